"""Named entities from the spaCy model (PERSON, LOCATION, NRP, ORGANIZATION, DATE_TIME).

The engine runs spaCy once per batch and hands each document over in ``NlpArtifacts``; this
recognizer only maps labels, cleans span edges and drops date entities with no date in them.
"""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult

LABEL_MAP = {
    "PERSON": "PERSON", "PER": "PERSON",
    # From the engine's second pass over a case-restored copy of an all-lower-case text.
    "LC_PERSON": "PERSON",
    "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION",
    "NORP": "NRP",
    "ORG": "ORGANIZATION",
    "DATE": "DATE_TIME", "TIME": "DATE_TIME",
}
_LC_PERSON_SCORE = 0.8
SCORES = {"PERSON": 0.85, "LOCATION": 0.8, "NRP": 0.7, "ORGANIZATION": 0.6, "DATE_TIME": 0.7}
_DATEY = re.compile(
    r"\d|(?i:\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\b|"
    r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b)"
)
# Field names and acronyms the small model tags as ORG/PERSON although they name no one.
_NOT_NAMES = frozenset(
    """ssn ss# iban bic swift dob d.o.b pin cvv cvc id url ip ipv4 ipv6 api email e-mail phone tel fax
    mobile zip postcode passport dl vat tin nhs mrn otp sms pan iban_code n/a""".split()
)
# A span ending in one of these names a role, not someone (``SPEAK TO A REAL PERSON``).
# A role, not a name, when it ends a span: ``A REAL PERSON``, ``HUMAN AGENT`` (also ``names.py``'s cues).
ROLE_NOUNS = frozenset("person people human agent representative somebody someone operator".split())
_EDGE = " \t\n\r.,;:!?\"'()[]{}<>-–—/|*\\"
# Words after which a name is a place: ``grew up in``, ``flew to``, ``based in``, ``originally from``.
# The small model often calls such places ORG (``grew up in HELSINKI``) or PERSON (``flew to Coles``).
_LOCATIVE = re.compile(
    r"(?i:\b(?:(?:grew[ \t]+up|born|raised|based|located|headquartered|live|lives|lived|living|settled|"
    r"moved(?:[ \t]+here)?|relocated|flew|fly|flying|travell?ed|travell?ing|drove|driving|returned|"
    r"emigrated|immigrated|arrived|originally|stationed|resides?|resided|residing)"
    r"(?:[ \t]+(?:back|here|there|over|down|up))?[ \t]+(?:in|to|from|at|into|near)"
    r"|(?:i[ \t]+am|i'm|we[ \t]+are|we're)[ \t]+(?:in|at|from)"
    r"|hometown|home[ \t]+(?:city|town)|(?:city|town|village|capital)[ \t]+of)[ \t]+$)"
)
# Of these, the ones that also turn a model PERSON into a place (never ``I'm``/``we're``).
_LOCATIVE_STRONG = re.compile(
    r"(?i:\b(?:grew[ \t]+up|born|raised|based|located|headquartered|moved|relocated|flew|travell?ed|"
    r"returned|emigrated|immigrated|arrived)(?:[ \t]+(?:back|here|there))?[ \t]+(?:in|to|at|into)[ \t]+$)"
)


def ner_spans(nlp_artifacts) -> list[tuple[str, int, int]]:
    """The ``(label, start, end)`` triples the engine attached, else the spaCy doc's entities."""
    extra = getattr(nlp_artifacts, "lethe_ner_spans", None)
    if extra is not None:
        return extra
    doc = getattr(nlp_artifacts, "tokens", None)
    if doc is None or not hasattr(doc, "ents"):
        return []
    return [(e.label_, e.start_char, e.end_char) for e in doc.ents]


_YEAR = re.compile(r"(?<!\d)(?:1[89]\d\d|20\d\d)(?!\d)|\d0'?s\b|(?<!\d)\d{1,3}[/.-]\d{1,2}(?!\d)")


_MONTH_NAME = re.compile(r"(?i)\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\b")
_PERIOD = re.compile(r"(?i)\b(?:years?|months?|weeks?|days?|hours?|minutes?|noon|midnight)\b")
# A place name the model missed right after a motion/origin verb: ``flew to STAXROITH``,
# ``originally from PORT O' WARREN``, ``arrived at Riverlea``.
_PLACE_AFTER_CUE = re.compile(
    r"(?i:\b(?:grew[ \t]+up[ \t]+in|born[ \t]+in|raised[ \t]+in|based[ \t]+in|headquartered[ \t]+in|"
    r"moved(?:[ \t]+here)?[ \t]+(?:to|from)|relocated[ \t]+to|flew[ \t]+(?:to|from|in)|"
    r"travell?ed[ \t]+to|returned[ \t]+to|emigrated[ \t]+(?:to|from)|immigrated[ \t]+to|arrived[ \t]+(?:at|in)|"
    r"originally[ \t]+from)[ \t]+)"
    r"(?P<p>[^\W\d_a-z][\w'’-]*(?:[ \t]+[^\W\d_a-z][\w'’-]*){0,2})"
)
# Open-ended amounts, ordinal periods and two-digit decades are not dates: ``8+ years`` (of
# experience), ``10th year``, ``the 60s``. Exact durations (``14 years``) stay: a sentence length or a
# stay can single a person out (TAB annotates them as quasi-identifiers).
_NOT_A_DATE = re.compile(
    r"(?i)^(?:the[ \t]+|its[ \t]+|his[ \t]+|her[ \t]+|their[ \t]+|our[ \t]+|my[ \t]+)?"
    r"(?:\d+\+|\d+(?:st|nd|rd|th))[ \t-]*(?:years?|months?|weeks?|days?|hours?|minutes?|seconds?|decades?)"
    r"$|^(?:the[ \t]+)?(?:early[ \t]+|late[ \t]+|mid-?)?'?\d0'?s$"
)


def _date_like(value: str) -> bool:
    """A DATE entity must name a month or weekday, or hold a year/decade or d/m digits (not a ZIP).

    Open-ended amounts (``8+ years``), ordinal periods (``10th year``) and two-digit decades
    (``the 60s``) are not dates; digits without a year or d/m form need a month name or a period unit (``14 years``; not
    ``36523 last night``).
    """
    if not _DATEY.search(value) or _NOT_A_DATE.match(value.strip()):
        return False
    if any(c.isdigit() for c in value) and not _YEAR.search(value):
        return bool(_MONTH_NAME.search(value) or _PERIOD.search(value)) and "box" not in value.lower()
    return True


_WORDS = re.compile(r"[^\W\d_][\w'-]*")
# A word not glued to a number (``30799ms`` holds none; ``J.P.`` does).
_WORD_NOT_UNIT = re.compile(r"(?<!\w)[^\W\d_]")
# Code in a model span: a URL scheme, a call, ``host:port``, or one token mixing letters and digits.
_CODE_TOKEN = re.compile(r"://|\w\(|[A-Za-z]:\d|^(?=[^ \t]*[^\W\d_])(?=[^ \t]*\d)[^ \t]+$")
# A lower-case word glued to code punctuation (``id,qty,amount``, ``row.qty``, ``qty=3``).
_CODE_BEFORE = re.compile(r"[,.=_:/\[{(<]$")
_CODE_AFTER = re.compile(r"[,.=_:(\[{][^\s]|[=_(\[{]")


def _common_noun_here(text: str, value: str, cache: dict) -> bool:
    """A one-word PERSON (``Salesperson``) that the same text also writes in lower case is a common noun."""
    if " " in value or not value[:1].isupper() or value.isupper() or len(value) < 3:
        return False
    if "words" not in cache:
        cache["words"] = set(_WORDS.findall(text))
    return value.lower() in cache["words"]


# ``I'm JOHN SMITH`` tagged as one PERSON: pronouns, contractions and greetings never start a name.
_LEAD = re.compile(
    r"(?i)^(?:(?:i|i'm|im|i am|we|we're|you|you're|he|she|it|it's|they|this is|that is|hi|hello|hey|"
    r"dear|thanks|thank you|my|our|your|his|her|their|the|a|an)[ \t]+)+"
)
_SENTENCE_START = re.compile(r"(?:^|[.!?:\n])[\s\"'(\[*>•-]*$")
_LOWER_WORD = re.compile(r"[a-zà-ÿ]+")
_NEXT_LOWER = re.compile(r"[ \t]+(?P<w>[a-zà-ÿ][\w'-]*)")
# An imperative's object (``Ruf mich an``, ``Call me``, ``Appelle-moi``): the capitalised word is a verb.
_OBJECT = frozenset("me us him her them mich uns dich mir moi nous mi ci ti nos te".split())


def _word_tables(nlp_artifacts) -> dict[str, frozenset]:
    """The model lemmatizer's word lists by part of speech (``adj``, ``adv``, ``verb``, ``noun``)
    and its stop words; empty when the model has none."""
    global _TABLES
    if _TABLES is None:
        _TABLES = {}
        try:
            from spacy.strings import get_string_id

            nlp = nlp_artifacts.nlp_engine.nlp["en"]
            index = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_index")
            for pos in ("adj", "adv", "verb", "noun"):
                key = get_string_id(pos)
                _TABLES[pos] = frozenset(index[key]) if key in index else frozenset()
            _TABLES["stop"] = frozenset(nlp.Defaults.stop_words)
        except Exception:  # noqa: BLE001 - no lemmatizer tables: the check is simply skipped
            _TABLES = {}
    return _TABLES


_TABLES: dict | None = None


def _common_sentence_opener(text: str, start: int, end: int, etype: str, nlp_artifacts) -> bool:
    """A single capitalised word opening a sentence (``Card declined.``, ``Invalid number``,
    ``Ruf mich an``) that is a common word, not a name: an imperative before an object pronoun, or a
    word the model's lexicon knows as a verb/adjective/adverb (for ORG/NRP also as a noun), when
    a lower-case word follows."""
    value = text[start:end]
    if " " in value or not _SENTENCE_START.search(text, max(0, start - 6), start):
        return False
    if "-" in value and value.rsplit("-", 1)[1].lower() in _OBJECT:  # ``Appelle-moi``
        return True
    nxt = _NEXT_LOWER.match(text, end)
    if not nxt:
        return False
    if nxt.group("w").lower() in _OBJECT:
        return True
    tables = _word_tables(nlp_artifacts)
    if not tables:
        return False
    w = value.lower()
    if w in tables["stop"] or w in tables["adj"] or w in tables["adv"] or w in tables["verb"]:
        return etype != "PERSON" or w not in tables["noun"]
    return etype in ("ORGANIZATION", "NRP") and w in tables["noun"]


class LetheSpacyNerRecognizer(EntityRecognizer):
    """Map spaCy labels to Presidio entity names; trim punctuation and possessives off the edges."""

    def __init__(self) -> None:
        super().__init__(
            supported_entities=sorted(set(LABEL_MAP.values())), name=type(self).__name__
        )

    def load(self) -> None:  # noqa: D102
        pass

    def analyze(self, text, entities, nlp_artifacts=None):  # noqa: D102 - see class docstring
        if nlp_artifacts is None:
            return []
        out = []
        cache: dict = {}
        _word_tables(nlp_artifacts)  # loaded once, before the heuristics that read it (lexicon_names)
        for label, start, end in ner_spans(nlp_artifacts):
            etype = LABEL_MAP.get(label)
            if etype is None or (entities and etype not in entities):
                continue
            while start < end and text[start] in _EDGE:
                start += 1
            while end > start and text[end - 1] in _EDGE:
                end -= 1
            if text[max(start, end - 2):end] in ("'s", "’s") and end - start > 2:
                end -= 2
            if etype in ("PERSON", "ORGANIZATION", "LOCATION", "NRP"):
                lead = _LEAD.match(text, start, end)
                if lead and lead.end() < end:
                    start = lead.end()
                # ``Llámame al``: a name never ends with a lower-case word (unless all is lower case).
                while (label != "LC_PERSON" and " " in text[start:end]
                       and _LOWER_WORD.fullmatch(text[start:end].rsplit(" ", 1)[1])):
                    end = start + text[start:end].rindex(" ")
                    while end > start and text[end - 1] in _EDGE:
                        end -= 1
                if "_" in text[start:end] or "=" in text[start:end + 2]:
                    continue  # an identifier (``AWS_SECRET_ACCESS_KEY=``), not a name
                if _common_sentence_opener(text, start, end, etype, nlp_artifacts):
                    continue
            value = text[start:end]
            if end - start < 2 or not any(c.isalnum() for c in value):
                continue
            if value.lower() in _NOT_NAMES:
                continue
            if etype == "PERSON" and value.rsplit(None, 1)[-1].lower() in ROLE_NOUNS:
                continue  # ``A REAL PERSON``, ``HUMAN AGENT``: a role, not a name
            if etype in ("PERSON", "ORGANIZATION", "LOCATION", "NRP") and not _WORD_NOT_UNIT.search(value):
                continue  # ``30799ms``, ``81547621,686``: a number with a unit, not a name
            if etype in ("PERSON", "ORGANIZATION", "LOCATION", "NRP") and _CODE_TOKEN.search(value):
                continue  # ``localhost:47205``, ``requests.get('http://...``, ``cc80845``: code, not a name
            if label == "LC_PERSON" and (_CODE_BEFORE.search(text, max(0, start - 1), start)
                                         or _CODE_AFTER.match(text, end)):
                continue  # ``id,qty,amount``: a field name in code or CSV
            if etype == "DATE_TIME" and not _date_like(value):
                continue
            if etype == "PERSON" and label != "LC_PERSON" and not any(c.isupper() for c in value):
                continue
            if etype == "PERSON" and _common_noun_here(text, value, cache):
                continue
            if (etype == "ORGANIZATION" and _LOCATIVE.search(text, max(0, start - 40), start)
                    and text[end:end + 2] not in ("'s", "’s")):  # ``I'm in Grace Hughes's office``
                etype = "LOCATION"
            elif (etype == "PERSON" and _LOCATIVE_STRONG.search(text, max(0, start - 40), start)
                  and text[end:end + 2] not in ("'s", "’s")):
                etype = "LOCATION"
            score = _LC_PERSON_SCORE if label == "LC_PERSON" else SCORES[etype]
            out.append(RecognizerResult(etype, start, end, score))
        if not entities or "LOCATION" in entities:
            for m in _PLACE_AFTER_CUE.finditer(text):
                start, end = m.span("p")
                if not any(r.start < end and start < r.end for r in out):
                    out.append(RecognizerResult("LOCATION", start, end, 0.75))
        return out
