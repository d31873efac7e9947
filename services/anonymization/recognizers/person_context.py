"""Person names recognised by the words around them and by their shape, not by a list of names.

The small spaCy model misses many names or labels them ORG/GPE. This recognizer adds PERSON where
the *context* says a person is meant, in any language's names:

* a relation or role noun just before: ``my kid Lukas``, ``the assistant to Magnus Poulsen``,
  ``directed by Sari J. Paavolainen``, ``said Gladys to Logan``;
* a verb or possessive only people take just after: ``Hodge said``, ``Ley began writing``,
  ``Amanda's daughter``; two names joined by ``and`` before a plural verb (``Usamov and Bowers
  were``: a company called "Usamov and Bowers" would take ``is``);
* a dialogue speaker at the start of a line (``Ubul: What a wife.``, ``Tuomas Lehto: are we on?``) or a vocative
  (``Warrane, can I ...``, ``Don't go to town, Brandon!``);
* a person's works or audience just after: ``a Homero Portillo concert``, ``the Ruoho novel``,
  ``a huge Jouni Hahli fan`` (the model often calls these ORG);
* a sentence subject that a nearby he/she/him/her refers to (``Irenka is very reliable. You can
  always depend on him.``), unless the lexicon knows the word or the model calls it a place or date;
* a sentence-initial subject that ``is from`` somewhere (``Tomomi is from Xignite``), unless the
  lexicon knows the word or the model calls it a place or date;
* a name shape: ``Given I. Family`` (a middle initial between capitalised words), also when the model
  called it an organisation.

Scores sit above the model's ORG/GPE guesses (so a relabelled span wins) and below pattern-validated
addresses.
"""

from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult

from .base import LetheRuleRecognizer
from .names import STOP, scan_name
from .spacy_ner import ROLE_NOUNS, _word_tables, ner_spans

_CAP = r"[^\W\d_a-z]"  # an upper-case (or caseless) letter, any script
_NAME = _CAP + r"[^\W\d_]*(?:(?:['’]" + _CAP + r"|-[^\W\d_])[^\W\d_]*)*"
# A name of 1-3 words, optionally with middle initials: ``Faina D. Yefremova``, ``Willemine ten Pas``.
# It starts at the start of a word only: a start inside a long word would rescan it (quadratic time).
_FULL = (r"(?<![\w'’-])(?P<n>" + _NAME + r"(?:[ \t]+(?:" + _CAP + r"\.?|(?:van|von|de|der|den|ten|ter|da|di|du|del|la|le)"
         r"(?=[ \t])|" + _NAME + r")){0,3})")

_RELATION = (
    r"kid|kids|son|daughter|child|baby|wife|husband|partner|fianc[ée]e?|boyfriend|girlfriend|mother|mom|"
    r"mum|father|dad|brother|sister|grandson|granddaughter|grandmother|grandfather|grandma|grandpa|uncle|"
    r"aunt|cousin|nephew|niece|friend|buddy|neighbou?r|colleague|coworker|co-worker|boss|manager|"
    r"assistant|secretary|client|patient|tenant|landlord|lawyer|attorney|doctor|nurse|teacher|student|"
    r"roommate|flatmate|stepson|stepdaughter|stepmother|stepfather|spouse|widow|widower"
)
_AGENT_VERB = (
    r"directed|written|composed|produced|performed|sung|arranged|painted|authored|narrated|edited|"
    r"illustrated|signed|founded|created|played|recorded|photographed|translated|designed|invented"
)
_ROLE = (
    r"songwriter|singer|actor|actress|author|novelist|poet|composer|director|producer|guitarist|"
    r"drummer|pianist|rapper|artist|painter|writer|journalist|reporter|senator|congressman|"
    r"congresswoman|governor|mayor|president|ceo|founder|co-founder|chairman|chairwoman|professor|player|"
    r"athlete|footballer|coach|commenter|commentator|blogger|presenter|anchor|striker|goalkeeper|chef|"
    r"dancer|comedian|influencer|streamer"
)
_LEFT = re.compile(
    r"(?i:\b(?:(?:my|our|your|his|her|their|the|a)[ \t]+(?:" + _RELATION + r")(?:[ \t]+(?:to|of|for))?"
    r"|(?:assistant|married|tribute|talk|talking|speak|speaking|spoke|listen|listening|wrote|write|"
    r"writing|belongs|engaged|introduced|replied|reply|sent|send|give|gave|handed|hand)[ \t]+to"
    r"|(?:" + _AGENT_VERB + r")[ \t]+by|starring|featuring|features|also[ \t]+features"
    r"|(?:" + _ROLE + r")|(?:follow[ \t]+up|meet|met|meeting|spoke|speak|talk|talked|chat|chatted|lunch|dinner|breakfast|"
    r"coffee|drinks|call|appointment|interview)[ \t]+with"
    r"|said|says|asked|told|shouted[ \t]+at|yelled[ \t]+at|heard|thank|thanks|congratulate|"
    r"congratulations|call[ \t]+me|ask|tell|remind|(?:named|christened)[ \t]+(?:him|her)|(?:had|has|have)[ \t]+given"
    r"|(?:gender|age|birthday|nickname|real[ \t]+name|whereabouts)[ \t]+of)[ \t]*:?[ \t]+)"
)
_RIGHT = re.compile(
    r"(?:['’]s[ \t]+(?:" + _RELATION + r"|killers?|murderer|death|funeral|birthday|wedding|"
    r"husband|wife|family|parents|life|career|novel|song|album|film|book|poem|version|account|flight|phone|"
    r"car|house|home|address|e-?mail|passport|ticket|booking|reservation|profile|password|salary|desk|"
    r"appointment|signature|licen[cs]e|visa|luggage|seat|birth[ \t]+date|date[ \t]+of[ \t]+birth)\b"
    r"|[ \t]+(?:said|says|shouted|asked|told|replied|answered|whispered|yelled|laughed|smiled|cried|"
    r"sighed|nodded|lives|lived|grew[ \t]+up|was[ \t]+born|began[ \t]+(?:writing|singing|working|"
    r"playing|painting)|wrote|writes|spent[ \t]+a|married|died|speaks|spoke|will[ \t]+be[ \t]+talking|"
    r"is[ \t]+talking|had[ \t]+given|has[ \t]+given|gave|thinks|believes|feels|felt|wants|wanted|"
    r"loves|loved|hates|hated|hopes|hoped|recalls|recalled|explained|admitted|insisted|"
    r"is[ \t]+(?:a|an)[ \t]+(?:\w+[ \t]+){0,2}(?:person|man|woman|boy|girl|guy|lady|listener|"
    r"teacher|student|father|mother))\b"
    r"|[ \t]+as[ \t]+(?:(?:a|an|the|my|our|his|her|their)[ \t]+)?(?:beneficiary|co-?signer|guarantor|guardian|"
    r"trustee|executor|signatory|authori[sz]ed[ \t]+user|"
    r"emergency[ \t]+contact|dependent|dependant|joint[ \t]+holder)\b)"
)
_NAME_BEFORE_VERB = re.compile(_FULL + r"(?=" + _RIGHT.pattern + r")")
_PLURAL_PAIR = re.compile(
    _FULL.replace("?P<n>", "?P<a>") + r"[ \t]+and[ \t]+" + _FULL.replace("?P<n>", "?P<b>")
    + r"[ \t]+(?:were|are|have|had[ \t]+been|both|themselves)\b"
)
# A person's works and audience: ``a Homero Portillo concert``, ``the Ruoho novel``, ``a huge Jouni
# Hahli fan``; ``version`` only after a two-word name (``the Steffen Mauer version``, not ``the
# Android version``).
_WORK = re.compile(
    r"\b(?:[Aa]n?|[Tt]he)[ \t]+(?:(?:huge|big|great|true|real|die-hard)[ \t]+)?(?:" + _FULL
    + r"[ \t]+(?:concerts?|novels?|fans?|biography|memoirs?|autobiography)\b|"
    + _FULL.replace("?P<n>", "?P<v>").replace("){0,3})", "){1,2})")
    + r"[ \t]+version\b)"
)
# A sentence subject that a he/she/him/her nearby refers back to: ``Irenka is very reliable. You can
# always depend on him.``, ``He's injured ..., but Dori just has to ...``.
_SUBJECT = re.compile(
    r"(?:^|[.!?][ \t]+|,[ \t]+but[ \t]+)(?P<n>" + _NAME + r"(?:[ \t]+" + _NAME + r")?)[ \t]+"
    r"(?=(?:is|was|has|had|just|will|can|could|would|does|did|never|always)\b)", re.M
)
# ``Tomomi is from Xignite``: a sentence-initial subject said to come from somewhere (or some firm).
_IS_FROM = re.compile(
    r"(?:^|[.!?][ \t]+)(?P<n>" + _NAME + r"(?:[ \t]+" + _NAME + r")?)[ \t]+(?:is|was|comes|came)[ \t]+from\b",
    re.M,
)
_HUMAN_PRONOUN = re.compile(r"(?i)\b(?:he|she|him|her|his|hers|himself|herself)\b")
_NOT_PERSON_LABELS = frozenset(
    {"GPE", "LOC", "FAC", "NORP", "DATE", "TIME", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"}
)
# ``Ubul: What a wife.`` / ``Elizabeth:"I'm Amanda's daughter"`` at the start of a line.
# (The line after the colon holds a lower-case letter and ends with punctuation: two lazy scans, linear.)
# ``Tuomas Lehto: are we still on?`` / ``Mária: ok, see you at 5``: a chat turn; its words must not all be
# common words (``Order Status: shipped``), checked with the lexicon.
_CHAT_TURN = re.compile(r"(?m)^[ \t>]*(?P<n>" + _NAME + r"(?:[ \t]+" + _NAME + r"){0,2})[ \t]*:[ \t]+(?=[a-z])")
_SPEAKER = re.compile(r"(?m)^[ \t>]*(?P<n>" + _NAME + r")[ \t]*:[ \t]*(?=[\"“'A-Z](?=[^\n:]*?[a-z])"
                      r"[^\n:]*?[.!?\"”][ \t]*$)")
_VOCATIVE = re.compile(
    r"(?m)(?:^|[.!?][ \t]+)(?P<n>" + _NAME + r"),[ \t]+(?=(?:can|could|would|will|please|do|did|are|is|"
    r"have|I|you|we|let's|thank|thanks)\b)"
    r"|,[ \t]+(?P<m>" + _NAME + r")[!?]"
)
# ``said Gladys to Logan``: the addressee of a speech verb.
_SAID_TO = re.compile(
    r"\b(?:said|says|shouted|whispered|yelled|explained|replied|wrote|sang|cried|screamed)[ \t]+" + _FULL
    + r"[ \t]+(?:to|at)[ \t]+" + _FULL.replace("?P<n>", "?P<m>")
)
# A line holding only a name, in a contact block or signature: followed within a few lines by an
# e-mail address, a phone/contact label or a postal line with a house number.
_NAME_LINE = re.compile(
    r"(?m)^[ \t>|*?]*(?P<n>" + _NAME + r"(?:[ \t]+" + _CAP + r"\.?)?(?:[ \t]+" + _NAME + r"){1,2})[ \t]*$"
)
_CONTACT_NEAR = re.compile(
    r"@|(?i:\b(?:phone|mobile|e-?mail|tel|fax|address|desk|office)\b)|"
    r"^[ \t>|*?]*\d{1,6}(?:[ \t]+\d{1,6})?[ \t]+[^\W\d_]|"  # ``12 Elm St``, ``3378 217 Lovers Lane``
    r"(?i:\b(?:PSC|Unit|USNS|USNV|USS|USCGC)\b)", re.M
)
# ``Given I. Family`` / ``Given I Family``: capitalised word, a middle initial, capitalised word.
_INITIAL_SHAPE = re.compile(
    r"(?<![\w.'’-])(?P<n>" + _NAME + r"[ \t]+(?:(?![IVX][ \t])" + _CAP + r"\.?[ \t]+){1,2}" + _NAME + r")(?![\w])"
)
_ORG_WORD = re.compile(
    r"(?i)\b(?:inc|llc|ltd|plc|gmbh|ag|sa|corp|corporation|company|co|group|bank|university|college|"
    r"school|institute|foundation|association|society|club|orchestra|band|partners|holdings|capital|"
    r"technologies|technology|systems|solutions|software|labs|media|health|insurance|services|"
    r"agency|airlines|motors|church|hospital|court|council|ministry|department|committee|street|"
    r"avenue|road|the|of|and|section|article|part|route|plan|type|class|grade|level|room|unit|box|act|"
    r"regulation|directive|convention|protocol|code|law|government|prosecutor|inspector|commission|"
    r"tribunal|parliament|police|office|service|army|navy)\b"
)
_PRONOUNS = frozenset(
    "i he she it we you they who someone somebody everyone everybody nobody anyone one god".split()
)
_FIELD_WORDS = frozenset(
    """name address phone email e-mail mobile tel fax website web note notes subject re fw fwd date time
    from to cc bcc when where who what why how summary title description status total amount zip
    question answer q a warning error info important update reminder ps nb""".split()
)


_KNOWN: list = []


def _known_words(nlp_artifacts) -> frozenset:
    """Every word of the model lexicon's tables (stop words, nouns, verbs, adjectives, adverbs), once."""
    if not _KNOWN:
        tables = _word_tables(nlp_artifacts)
        if not tables:
            return frozenset()
        _KNOWN.append(frozenset().union(*tables.values()))
    return _KNOWN[0]


def _clean(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Trim a candidate to a name: no leading stop word, possessive cut, 2+ letters, not a field label,
    not ending in a role noun (``spacy_ner.ROLE_NOUNS``)."""
    value = text[start:end]
    if value.endswith(("'s", "’s")):
        end -= 2
        value = value[:-2]
    words = value.split()
    while words and words[0].lower() in STOP:
        start += len(words[0]) + (len(value) - len(value.lstrip()))
        value = text[start:end].lstrip()
        start = end - len(value)
        words = value.split()
    if not words or words[0].lower() in _FIELD_WORDS or words[0].lower() in _PRONOUNS:
        return None
    if words[-1].lower().strip(".,;:!?") in ROLE_NOUNS:
        return None  # ``speak to a REAL PERSON``, ``talk to a human agent``: a role, not a name
    if len(value) < 2 or value.isupper() and len(words) == 1:
        return None
    if _ORG_WORD.search(value):
        return None
    return start, end


class LethePersonContextRecognizer(LetheRuleRecognizer):
    """PERSON from the surrounding words and the name's shape (see module docstring)."""

    ENTITY = "PERSON"

    def find(self, text: str, nlp_artifacts=None) -> list[RecognizerResult]:  # noqa: D102 - see the class docstring
        found: dict[tuple[int, int], float] = {}

        def add(start: int, end: int, score: float) -> None:
            span = _clean(text, start, end)
            if span and span[1] - span[0] >= 2:
                found[span] = max(found.get(span, 0.0), score)

        for m in _LEFT.finditer(text):
            start, end = scan_name(text, m.end(), max_tokens=4)
            if end > start:
                add(start, end, 0.88)
        for m in _NAME_BEFORE_VERB.finditer(text):
            if m.start() == 0 or text[m.start() - 1] in " \t\n\"'(>:":
                add(m.start("n"), m.end("n"), 0.86)
        for m in _PLURAL_PAIR.finditer(text):
            add(m.start("a"), m.end("a"), 0.86)
            add(m.start("b"), m.end("b"), 0.86)
        if nlp_artifacts is not None and " from" in text:
            known = _known_words(nlp_artifacts)
            other = [(x, y) for label, x, y in ner_spans(nlp_artifacts) if label in _NOT_PERSON_LABELS]
            for m in _IS_FROM.finditer(text):
                a, b = m.span("n")
                if (not any(w.lower() in known for w in m.group("n").split())
                        and not m.group("n").isupper() and not any(a < y and x < b for x, y in other)):
                    add(a, b, 0.8)
        if nlp_artifacts is not None and _SUBJECT.search(text):
            known = _known_words(nlp_artifacts)
            other = [(a, b) for label, a, b in ner_spans(nlp_artifacts) if label in _NOT_PERSON_LABELS]
            for m in _SUBJECT.finditer(text):
                a, b = m.span("n")
                words = m.group("n").split()
                if (any(w.lower() in known for w in words) or m.group("n").isupper()
                        or any(a < y and x < b for x, y in other)):
                    continue
                if _HUMAN_PRONOUN.search(text, max(0, a - 100), min(len(text), b + 100)):
                    add(a, b, 0.8)
        for m in _WORK.finditer(text):
            g = "n" if m.group("n") else "v"
            if not m.group(g).isupper():
                add(m.start(g), m.end(g), 0.86)
        for m in _SPEAKER.finditer(text):
            add(m.start("n"), m.end("n"), 0.86)
        if nlp_artifacts is not None and ":" in text:
            known = _known_words(nlp_artifacts)
            for m in _CHAT_TURN.finditer(text):
                if not all(w.lower() in known for w in m.group("n").split()):
                    add(m.start("n"), m.end("n"), 0.84)
        for m in _VOCATIVE.finditer(text):
            g = "n" if m.group("n") else "m"
            add(m.start(g), m.end(g), 0.8)
        for m in _SAID_TO.finditer(text):
            add(m.start("n"), m.end("n"), 0.86)
            add(m.start("m"), m.end("m"), 0.86)
        for m in _NAME_LINE.finditer(text):
            stop = m.end()
            for _ in range(8):  # the next 8 lines, without copying the rest of a long text
                stop = text.find("\n", stop + 1)
                if stop == -1:
                    stop = len(text)
                    break
            following = text[m.end():stop].split("\n", 8)[:8]
            if _CONTACT_NEAR.search("\n".join(following)) and not m.group("n").isupper():
                add(m.start("n"), m.end("n"), 0.84)
        for m in _INITIAL_SHAPE.finditer(text):
            add(m.start("n"), m.end("n"), 0.87)
        return [RecognizerResult(self.ENTITY, s, e, sc) for (s, e), sc in found.items()]
