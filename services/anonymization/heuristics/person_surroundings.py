"""Model place, company and group spans that only a person fits where they stand, re-typed PERSON.

The model types many foreign first names as places (``Send my regards to Gustas``, ``Marjaana will call
you back``) or companies. Whatever it called them, a span is a person when:

- a person's predicate follows it: ``will call you back``, ``said``, ``told``, ``is available``, ``was
  admitted``, ``attended``, ``resigned``... (``<X>, who``, ``<X> himself/herself`` too);
- a person's cue precedes it: ``regards to``, ``dear``, a role in apposition (``Our new manager,
  <X>,``, ``The patient, <X>,``, ``my colleague <X>``), a verb whose object is a person (``hired``,
  ``promoted``, ``married``, ``ask``, ``tell``, ``thank``), ``name ... to/is/as``;
- it is asked about as a person: ``Is <X> available``, ``Why is <X> so stubborn?``; a sentence opening
  with such a name before such a predicate or question gets a PERSON span where the model found none;
- it heads a postal block: the text's first line is a name of two or three capitalised words and the
  next line holds a number or starts with a unit word (``Elif Palman\\nStorgatan 39``; one word, as in
  ``Rönkkö\\nIlotulitusbulevardi 7``, heads a firm's block as often); it is added when the model found
  nothing there;
- it is owned by a firm or place: ``Bridgewater's Parker Suknović``, also when the model ran the owner
  into the span (``Lunde-Jørgensen's Hege Pedersen``: the owner keeps its type, the name is cut off);
  two or three words, none an adjective, verb or stop word, one not even a noun;
- it heads a contact block: a name line (at the start or after a line ending in ``.``, ``,``, ``!``),
  a company line with no digit, then a line with a number or a unit word; the company line's model
  PERSON spans become ORGANIZATION (``Allan Björk\\nScale Unlimited\\nUnit 5022``);

and no word of it is in the model lexicon (a place or company name made of English words, ``West
Connor General``, ``Scale Unlimited``, is left alone; a one-word model span may be a noun, since the
lexicon's nouns hold first names such as ``rebecca``; ``Smith Analytics`` may not), none is in
capitals, and it is not followed by ``'s`` (``Gustas's office``). Spans of the shape rules (score 0.87
and up) are never touched.

Input and output are the resolution's ``[type, start, end, score]`` lists; besides types, a block's
head is cut from the line the model ran it into, a name is cut from its owner, and spans are added
where noted, never over another span. The per-span expressions are anchored next to the span; the
text-wide ones (sentence openings, contact blocks) are anchored at a line or sentence start and
bounded, so the cost stays linear in the text.
"""

from __future__ import annotations

import re

from ..recognizers import spacy_ner
from ..resolution import SpanIndex
from .lexicon_names import ALL_KINDS, known

_AFTER = re.compile(
    r"(?:[ \t]*,[ \t]*who\b|[ \t]+(?:him|her)self\b|[ \t]+(?:(?:will|would|can|could|should|must|may|might|"
    r"has|had|did|didn't|won't|can't|just|also|never|then)[ \t]+)?(?:call(?:s|ed)?[ \t]+(?:you|me|us|back)|"
    r"phoned|texted|e-?mailed|said|says|told|tells|asked|asks|wrote|replied|answered|smiled|laughed|cried|"
    r"thinks|thought|believes|feels|felt|attended|graduated|retired|resigned|married|passed[ \t]+away|"
    r"was[ \t]+(?:born|admitted|promoted|hired|fired|diagnosed|injured)|is[ \t]+(?:available|"
    r"(?:not[ \t]+)?(?:in|at)[ \t]+(?:the[ \t]+)?(?:office|a[ \t]+meeting)|sick|ill|pregnant|on[ \t]+(?:leave|"
    r"vacation|holiday))|(?:be|is)[ \t]+(?:back|out[ \t]+of[ \t]+(?:the[ \t]+)?office))\b)")
_BEFORE = re.compile(
    r"(?i:\b(?:regards|greetings|condolences|congratulations|best[ \t]+wishes)[ \t]+to|^dear|\ndear"
    r"|\b(?:manager|patient|colleague|co-?worker|neighbou?r|wife|husband|son|daughter|mother|father|brother|"
    r"sister|friend|boss|client|customer|doctor|nurse|teacher|student|tenant|landlord|fianc[eé]e?|uncle|"
    r"aunt|cousin|grandmother|grandfather|assistant|secretary|lawyer|attorney|roommate|classmate|nephew|"
    r"niece|boyfriend|girlfriend|employee|intern|supervisor|coach|caregiver),?"
    r"|\bname\b[^.!?\n]{0,60}?\b(?:to|is|as|be)"
    r"|\b(?:hired|promoted|appointed|married|thank|thanked|ask|asked|tell|told|remind|reminded|call|"
    r"called|phone|phoned|text|texted|email|emailed|meet|met|invite|invited))[ \t]+$")
# A question about someone's state: ``Is <X> available``, ``Why is <X> so stubborn``, ``Was <X> always late``.
_ASKED = re.compile(r"(?:^|[.!?\n\"]|\b(?i:why|how|when))[ \t]*(?i:is|was|isn't|wasn't)[ \t]+$")
_STATE = re.compile(
    r"[ \t]+(?:(?:so|always|never|still|really|very|too|often)[ \t]+)?(?:available|free|around|married|single|sick|"
    r"ill|pregnant|awake|asleep|angry|upset|coming|okay|alright|late|impulsive|stubborn|shy|rude|kind|generous|"
    r"selfish|jealous|moody|grumpy|arrogant|polite|lazy|brave|honest|clumsy|cheerful|lonely|nervous|anxious|"
    r"impatient|ambitious|charming|naughty|bossy|talkative|mean|grumpy)\b")
_WORD = r"[^\W\d_a-z][^\W\d_A-Z]{1,30}(?:-[^\W\d_a-z][^\W\d_A-Z]{1,30})?"
_SHAPE = re.compile(_WORD + r"(?:[ \t]+(?:[A-Z]\.?[ \t]+)?" + _WORD + r"){0,2}")
_LETTERS = re.compile(r"[^\W\d_]+")
_POSTAL_HEAD = re.compile(r"[ \t]*(?P<n>" + _WORD + r"(?:[ \t]+" + _WORD + r"){1,2})[ \t]*\n[ \t]*"
                          r"(?=[^\n]{0,40}?\d|(?i:apt|apartment|flat|unit|suite|studio|house|po[ \t]+box)\b)")
# A contact block: a name line (at the start or after a line ending in ``.``/``,``/``!``), a line with no
# digit (the company), then a line with a number or a unit word: ``Oto Sproģis\nGutknecht GmbH\nElifhof 3``.
_CARD = re.compile(r"(?:\A|(?<=[.,!]\n))[ \t]*(?P<n>" + _WORD + r"(?:[ \t]+" + _WORD + r"){0,2})[ \t]*\n"
                   r"[ \t]*(?P<c>[^\W\d_][^\n\d]{1,60}?)[ \t]*\n[ \t]*"
                   r"(?=[^\n]{0,40}?\d|(?i:apt|apartment|flat|unit|suite|studio|house|po[ \t]+box)\b)")
# A sentence that opens with a name the model missed: ``Is <X> available``, ``<X> will call you back``.
_OPENING = re.compile(r"(?:^|(?<=[.!?\n]))[ \t]*(?:(?P<q>(?:(?:Why|How|When)[ \t]+)?(?:[Ii]s|[Ww]as)[ \t]+))?"
                      r"(?P<n>" + _WORD + r"(?:[ \t]+(?:[A-Z]\.?[ \t]+)?" + _WORD + r"){0,2})(?=[ \t,])")
_OWNER_IN = re.compile(r"['’]s[ \t]+(?=[^\W\d_a-z])")
_TYPES = frozenset({"LOCATION", "ORGANIZATION", "NRP"})


def persons_by_surroundings(text: str, hard: list[list], soft: list[list]) -> list[list]:
    """Re-type model spans that their surroundings show to be people (see the module docstring)."""
    tables = spacy_ner._TABLES
    if not tables:
        return soft
    head = _POSTAL_HEAD.match(text)
    if head and _unknown(text, *head.span("n"), tables) and not any(
            c[1] < head.end("n") and head.start("n") < c[2] for c in hard + soft):
        soft.append(["PERSON", *head.span("n"), 0.8])  # a head the model left out
    taken = None
    for m in _OPENING.finditer(text):
        s, e = m.span("n")
        if not ((_STATE.match(text, e) if m.group("q") else _AFTER.match(text, e)) and _unknown(text, s, e, tables)):
            continue
        taken = taken or SpanIndex(hard + soft)
        if not taken.overlapping(s, e):
            soft.append(["PERSON", s, e, 0.8])
            taken.add(soft[-1])
    for m in _CARD.finditer(text):
        if _unknown(text, *m.span("n"), tables):
            _card(m, soft, hard)
    for c in list(soft):
        if c[0] not in _TYPES or c[3] >= 0.87:
            continue
        s, e = c[1], c[2]
        owned = _OWNER_IN.search(text, s, e)
        if owned and owned.end() < e and _owned_name(text, owned.end(), e, tables):
            c[2] = owned.start()  # ``Lunde-Jørgensen's Hege Pedersen``: the owner keeps the model's type
            soft.append(["PERSON", owned.end(), e, c[3]])
            continue
        if text[max(0, s - 3):s] in ("'s ", "’s ") and _owned_name(text, s, e, tables):
            c[0] = "PERSON"  # ``Bridgewater's Parker Suknović``
            continue
        if head and s == head.start("n") and e > head.end("n"):
            e = head.end("n")  # ``Emilian Albu\nJensenskrenten``: the block's head alone
        kinds = _ALL if " " in text[s:e] else _NOT_NOUN
        if not _SHAPE.fullmatch(text, s, e) or not _unknown(text, s, e, tables, kinds) or text[e:e + 2] in ("'s", "’s"):
            continue
        if ((head and (s, e) == head.span("n")) or _AFTER.match(text, e) or _BEFORE.search(text, max(0, s - 80), s)
                or (_STATE.match(text, e) and _ASKED.search(text, max(0, s - 16), s))):
            c[0], c[2] = "PERSON", e
    return soft


def _owned_name(text: str, s: int, e: int, tables: dict) -> bool:
    """A full name after a possessive (``<firm>'s <name>``): two or three capitalised words, none an
    adjective, verb, adverb or stop word, at least one not even a noun (``Parker Suknović``)."""
    return (" " in text[s:e] and _SHAPE.fullmatch(text, s, e) is not None
            and _unknown(text, s, e, tables, _NOT_NOUN)
            and any(not known(m.group().lower(), tables) for m in _LETTERS.finditer(text, s, e)))


def _card(m: re.Match, soft: list[list], hard: list[list]) -> None:
    """Type a contact block's name line PERSON (added when nothing covers it) and model PERSON spans
    inside its company line ORGANIZATION."""
    (ns, ne), (cs, ce) = m.span("n"), m.span("c")
    covered = False
    for c in soft:
        if c[1] < ne and ns < c[2] and c[3] < 0.87:
            c[0], c[1], c[2], covered = "PERSON", max(c[1], ns), min(c[2], ne), True
        elif c[0] == "PERSON" and cs <= c[1] and c[2] <= ce and c[3] < 0.87:
            c[0] = "ORGANIZATION"
    if not covered and not any(c[1] < ne and ns < c[2] for c in hard + soft):
        soft.append(["PERSON", ns, ne, 0.8])


_ALL = ALL_KINDS
_NOT_NOUN = ("stop", "verb", "adj", "adv")  # WordNet's nouns hold first names (``rebecca``, ``victoria``)


def _unknown(text: str, s: int, e: int, tables: dict, kinds: tuple = _ALL) -> bool:
    """True when no word of ``text[s:e]`` is in the lexicon's ``kinds`` tables."""
    return not any(known(w, tables, kinds, stems=True)
                   for w in (m.group().lower() for m in _LETTERS.finditer(text, s, e)) if len(w) > 1)
