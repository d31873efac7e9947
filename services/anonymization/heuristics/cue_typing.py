"""Names typed by their cues: people the model called organisations or places, companies it called
people, and streets it called people.

- A person cue types the capitalised run after it PERSON: ``please change it to <name>`` after the
  word *name* in the same sentence, ``account holder to/is <name>``, ``speaker ... is <name>``,
  ``Hi, this is <name>``, and a run followed by ``works at``/``worked for``.
- A company has a company's shape: ``Booth LLC``, ``Green Inc``, ``Shelton and Sons`` (a suffix),
  and, after ``at``, ``<name> (from/of``, ``works at/for``, ``on behalf of`` or a ``Company:`` label,
  ``Robinson, Barker and Poole`` (partners) or ``Palmer-Farley`` (a hyphenated pair): typed
  ORGANIZATION, the model's pieces inside it removed, and the run before ``from/of/at`` typed PERSON.
- A street has a street's shape after an address cue: ``I live on Allen Road``, ``our office is on
  Davis Road``, ``my address is 412 Martin Lane``, or with a house number anywhere (``12 Slater
  Road``): typed LOCATION.

A span overlapping a pattern-validated entity is never touched. Runs start at their first letter
(lookbehind) and every repetition is bounded, so matching is linear in the text.
"""

from __future__ import annotations

import re

from ..resolution import SpanIndex
from .shape_words import LEGAL_FORM, NAME_JOIN, ORG_HEAD, PARTNER_WORD, STREET_KIND, STREET_KIND_NUMBERED

_NAMED = frozenset({"PERSON", "ORGANIZATION", "LOCATION", "NRP"})
_CONNECTORS = frozenset({"of", "from", "at", "and", "the"})
_CAP = r"[^\W\d_a-z](?:[^\W\d_]|['’](?=[^\W\d_])){1,30}"
_HYPH = _CAP + r"(?:-" + _CAP + r")?"
_NAME = r"(?P<n>" + _HYPH + r"(?:[ \t]+" + _HYPH + r"){1,2})(?![\w-])"
_PERSON_CUE = re.compile(
    r"(?:(?i:\bname\b[^.!?\n]{0,60}?\b(?:to|is|as|be)|\b(?:(?:account|card)[ \t]*)?holder[ \t]+(?:to|is|as)"
    r"|\bspeaker\b[^.!?\n]{0,30}?\bis|\b(?:hi|hello|hey),?[ \t]+(?:this[ \t]+is|i[ \t]+am|i'm|it's)"
    r"|\b(?:it's|it[ \t]+is|booked|registered|reserved|listed|filed|held)[ \t]+under"
    r"|\b(?:transfer(?:red)?|pay|paid|assign(?:ed)?|made[ \t]+out|reassign(?:ed)?)(?:[ \t]+[a-z]+){0,3}?[ \t]+to"
    r"|\bcontact[ \t]+person[ \t]*:|\breply[ \t]+from|\binterview[ \t]+with)"
    r"[ \t]+)" + _NAME)
# An author after a work (``a mandolin coda (not by <name>)``, ``the song was written by <name>``) and the
# name heading a labelled postal block (``Billing address: <name>\n 31401 ...``).
_AUTHOR = re.compile(
    r"(?i:\b(?:songs?|albums?|tracks?|singles?|covers?|coda|solo|books?|novels?|poems?|paintings?|photos?|"
    r"films?|movies?|plays?|lyrics|verses?|letters?|articles?|posts?|essays?|remix|version)\b[^.!?\n]{0,60}?"
    r"\bby)[ \t]+" + _NAME + r"(?=[ \t]*(?:[).,;:!?]|$))")
_POSTAL_NAME = re.compile(
    r"(?i:\b(?:billing|shipping|mailing|delivery|postal|home)[ \t]+address[ \t]*:)[ \t]*" + _NAME
    + r"[ \t]*(?=\n[ \t]*\d)")
# A personality trait (``Why is <name> so impulsive?``) and a name given as such (``under my partner's name <name>``).
_TRAIT = re.compile(
    r"(?<![\w-])" + _NAME.replace("{1,2}", "{0,2}") + r"[ \t]+(?:is|was|seems|seemed)[ \t]+(?:so|very|really|too|always|"
    r"never|quite|such[ \t]+an?)[ \t]+(?:impulsive|stubborn|shy|rude|kind|generous|selfish|jealous|moody|grumpy|"
    r"arrogant|polite|reliable|lazy|brave|honest|clumsy|cheerful|lonely|nervous|anxious|impatient|patient|"
    r"ambitious|charming|naughty|bossy|talkative|friendly|unfriendly|cranky|mean|sweet|funny|smart|clever)\b")
_NAMED_AS = re.compile(r"(?i:['’]s[ \t]+(?:full[ \t]+|legal[ \t]+|maiden[ \t]+)?name)[ \t]+" + _NAME)
# A sign-off, then the name alone on the next line: ``Thanks,\n<name>``.
_SIGN_OFF = re.compile(r"(?i:\b(?:thanks|thank[ \t]+you|regards|best|cheers|sincerely|yours))[ \t]*,?[ \t]*\n[ \t]*"
                       + _NAME + r"[ \t]*(?=\n|$)")
# ``<name> from <company> is the keynote speaker``, ``<name> (from <company>) will present``: the name may
# be one word, the company any 60 characters of its line (``Clausen & Søn A/S``, ``Culi j.d.o.o.``).
_SPEAKER_FROM = re.compile(
    r"(?<![\w-])(?!(?:Someone|Somebody|Anyone|Everyone|Nobody|Greetings|Support|Staff|Team|Sales)\b)"
    + _NAME.replace("{1,2}", "{0,2}") + r"[ \t]+\(?from[ \t]+[^\W\d_][^\n()]{0,60}?\)?[ \t]+"
    r"(?:(?:is|was|will[ \t]+be)[ \t]+(?:the|a|an|our)[ \t]+(?:(?:keynote|guest|main|featured|opening|"
    r"closing|invited|next)[ \t]+)?(?:speaker|presenter|host|moderator|panell?ist|lecturer|trainer)"
    r"|will[ \t]+(?:present|speak|talk|host|moderate|join|lead|open|close|attend|chair))\b")
_WORKS_AT = re.compile(r"(?<![\w-])" + _NAME + r"[ \t]+(?:works|worked|is[ \t]+working)[ \t]+(?:at|for)\b")
_SUFFIXED = re.compile(r"(?<![\w-])(?P<o>" + _HYPH + r"(?:" + NAME_JOIN + r"(?:" + _HYPH + "|" + PARTNER_WORD
                       + r")){0,3},?[ \t]+(?:" + LEGAL_FORM
                       + r"))(?![\w-])|(?<![\w-])(?P<h>" + ORG_HEAD + r"(?:[ \t]+" + _HYPH + r"){1,3})(?![\w-])")
_PARTNERS = re.compile(
    r"(?:(?<![\w-])" + _NAME + r"[ \t]+\(?(?:from|of|at)|\b(?:works|worked|working)[ \t]+(?:at|for)|\bjoined|\bat"
    r"|\bon[ \t]+behalf[ \t]+of|(?i:\b(?:company|employer|organi[sz]ation|business|firm)[ \t]*:))"
    r"[ \t]+(?P<o>" + _HYPH + r"(?:,[ \t]+" + _HYPH + r"){0,6},?[ \t]+(?:and|&)[ \t]+" + _HYPH
    + r"|" + _CAP + r"-" + _CAP + r")(?![\w-])")
# ``<name> of|from|at <company>``, ``<name>, who works for <company>``: the name before a company.
_NAME_BEFORE_ORG = re.compile(r"(?<![\w-])" + _NAME + r"(?:,?[ \t]+who)?[ \t]+(?:(?:works|worked)[ \t]+(?:at|for)"
                              r"|from|of|at)[ \t]+$")
_STREET = re.compile(
    r"(?i:\b(?:live[sd]?|living|reside[sd]?|located|based|house|flat)[ \t]+(?:on|at|in)|\b(?:on|along|off|onto)"
    r"|\baddress[ \t]+is|\baddress:|\bmoved[ \t]+to)[ \t]+"
    r"(?P<s>" + _CAP + r"(?:[ \t]+" + _CAP + r"){0,2}?[ \t]+" + STREET_KIND + r")(?![\w-])"
    r"|(?<![\w.,-])\d{1,5}[A-Za-z]?[ \t]+"
    r"(?P<t>" + _CAP + r"(?:[ \t]+" + _CAP + r"){0,2}?[ \t]+" + STREET_KIND_NUMBERED + r")(?![\w-])")
_NUMBER_BEFORE = re.compile(r"(?<![\w.,-])\d{1,5}[A-Za-z]?[ \t]+$")


def type_names_by_cues(text: str, hard: list[list], soft: list[list]) -> list[list]:
    """Retype and add name spans by their cues and shapes (see the module docstring)."""
    if not any(c.isupper() for c in text):
        return soft
    hard_index = SpanIndex(hard)
    index = SpanIndex(soft)

    def put(etype: str, s: int, e: int, score: float) -> bool:
        if hard_index.overlapping(s, e):
            return False
        clash = index.overlapping(s, e)
        if any(c[0] not in _NAMED and not (c[1] >= s and c[2] <= e) for c in clash):
            return False
        if etype == "PERSON" and any(c[0] == "ORGANIZATION" and c[3] >= 0.87 for c in clash):
            return False  # a company by its shape (``Booth LLC``) stays one
        for c in clash:
            index.remove(c)
            soft.remove(c)
            for piece in _outside(text, c, s, e):
                soft.append(piece)
                index.add(piece)
        c = [etype, s, e, score]
        soft.append(c)
        index.add(c)
        return True

    for m in _SUFFIXED.finditer(text):
        if m.group("h"):
            put("ORGANIZATION", *m.span("h"), 0.87)
        elif put("ORGANIZATION", *m.span("o"), 0.87):
            before = _NAME_BEFORE_ORG.search(text, max(0, m.start("o") - 120), m.start("o"))
            if before:
                put("PERSON", *before.span("n"), 0.86)
    for m in _PARTNERS.finditer(text):
        if put("ORGANIZATION", *m.span("o"), 0.87) and m.group("n"):
            put("PERSON", *m.span("n"), 0.86)
    for rx in (_PERSON_CUE, _WORKS_AT, _SPEAKER_FROM, _SIGN_OFF, _AUTHOR, _POSTAL_NAME, _TRAIT, _NAMED_AS):
        for m in rx.finditer(text):
            put("PERSON", *m.span("n"), 0.86)
    for m in _STREET.finditer(text):
        s, e = m.span("s" if m.group("s") else "t")
        number = _NUMBER_BEFORE.search(text, max(0, s - 8), s)
        put("LOCATION", number.start() if number else s, e, 0.88)
    return soft


def _outside(text: str, c: list, s: int, e: int) -> list[list]:
    """The parts of span ``c`` outside ``[s, e)``, without connecting words at the cut, if still names."""
    out = []
    for a, b in ((c[1], min(c[2], s)), (max(c[1], e), c[2])):
        while a < b and text[a] in " \t,":
            a += 1
        while True:
            while b > a and text[b - 1] in " \t,":
                b -= 1
            word = text[max(a, text.rfind(" ", a, b) + 1):b]
            if word not in _CONNECTORS or b - len(word) <= a:
                break
            b -= len(word)
        piece = text[a:b]
        if b - a >= 2 and sum(ch.isalnum() for ch in piece) >= 2 and any(ch.isupper() for ch in piece):
            out.append([c[0], a, b, c[3]])
    return out
