"""Model ORGANIZATION spans with a personal name's shape, re-typed PERSON.

The small English model often calls a foreign full name a company (``Sidónia Hušeková``, ``Kalevi
Moilanen``). A company's name almost always holds a word of the language (``Scale Unlimited``, ``Rivet
Software``, ``Civis Analytics``), a legal form, a partner join or an initialism; a person's full name holds
none. So a model ORGANIZATION span (score below the shape rules' 0.87) of two or three capitalised words
(a hyphenated pair counts as one word, an initial such as ``A.`` may stand between them) is PERSON when
no word is in the model lexicon's tables (stop words, nouns, verbs, adjectives, adverbs), no word is
written in capitals, and it is not the owner in ``<X>'s <name>`` (``Kragh's Hege``: the owner may be a
firm) unless it starts with a given name of some Faker locale (``Edi Živković's Cautionary Tales``), nor followed by a word in capitals (``Bakken BA``), a partner join or a number (a town before its
postcode).

The lexicon is the one ``recognizers.spacy_ner`` loads from the model (``_word_tables``); without one the
heuristic does nothing. Cost: one regular-expression match per model ORGANIZATION span.
"""

from __future__ import annotations

import re

from ..name_lexicon import given_names
from ..recognizers import spacy_ner

_WORD = r"[^\W\d_a-z][^\W\d_A-Z]{1,30}(?:-[^\W\d_a-z][^\W\d_A-Z]{1,30})?"
# ``Zoltán Balogh``, ``Evi Schmidtke-Austermühle``, ``Benjamin A. Seiler``: the whole span, nothing else.
_FULL_NAME = re.compile(_WORD + r"(?:[ \t]+(?:[A-Z]\.?[ \t]+)?" + _WORD + r"){1,2}")
_LETTERS = re.compile(r"[^\W\d_]+")
_OWNER = re.compile(r"['’]s?\b")
# After the span, a company word (``Mazilescu URL``, ``Bakken BA``), a partner join (``Jensen & Lund``)
# or a number (``Hania Bazid, 43 73313``: a town before its region and postcode).
_NOT_NAME_NEXT = re.compile(r"[ \t]*,?[ \t]*(?:[A-Z]{2,5}\b|\d|(?:&|and|und|og|och|e|y|et)[ \t]+[A-Z])")


def org_names_to_persons(text: str, hard: list[list], soft: list[list]) -> list[list]:
    """Re-type model ORGANIZATION spans shaped like full names PERSON (see the module docstring)."""
    tables = spacy_ner._TABLES
    if not tables:
        return soft
    for c in soft:
        if c[0] != "ORGANIZATION" or c[3] >= 0.87 or not _FULL_NAME.fullmatch(text, c[1], c[2]):
            continue
        if _NOT_NAME_NEXT.match(text, c[2]):
            continue
        if _OWNER.match(text, c[2]) and _LETTERS.match(text, c[1]).group() not in given_names():
            continue
        if any(known(w.lower(), tables) for w in _LETTERS.findall(text, c[1], c[2]) if len(w) > 1):
            continue
        c[0] = "PERSON"
    return soft


ALL_KINDS = ("stop", "noun", "verb", "adj", "adv")


def known(word: str, tables: dict, kinds: tuple = ALL_KINDS, stems: bool = False) -> bool:
    """True when lower-case ``word`` (with ``stems``, or its stem: plural ``-s``/``-es``/``-ies``, ``-ing``;
    stems of four letters or more, so ``ines`` is not ``in``) is in one of the lexicon's ``kinds`` tables,
    which hold lemmas only (``motors``, ``consulting`` are not there). Stems are left out for full names
    with no cue around them: WordNet's nouns hold ``william``, so ``Williams`` would be a word."""
    forms = [word]
    if stems and word.endswith("ies"):
        forms.append(word[:-3] + "y")
    if stems and word.endswith("s"):
        forms += [word[:-1], word[:-2]]
    if stems and word.endswith("ing"):
        forms += [word[:-3], word[:-3] + "e"]
    return any(f in tables[k] for f in forms if f == word or len(f) >= 4 for k in kinds)
