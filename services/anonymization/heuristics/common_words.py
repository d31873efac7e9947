"""PERSON spans made only of common English words that are nobody's name, dropped: capitalised
nouns and phrases in titles and emphasis (``Capitalized words like Wisdom and Discipline``, ``see
Guilty Pleasures: 5 Musicians``, ``X's Cautionary Tales``, ``CAN I SPEAK TO A REAL PERSON``), which
the English model reads as people.

A model-based PERSON span in an English passage is dropped when every word of it is common in English
(Zipf frequency >= :data:`COMMON_ZIPF`, i.e. at least once per 300,000 words of running text, from the
``wordfreq`` library's small lists, 27 MB in memory: Speer, *wordfreq* v3, data CC BY-SA 4.0), at least
ten times as frequent in English as in German, French, Spanish, Italian, Dutch and Portuguese (a
famous person's name is written alike in every language's text: ``Putin``, ``Einstein``, ``Biden``
stay people), and none is a given name
or a surname in any of Faker's person locales (:mod:`services.anonymization.name_lexicon`): ``Grace``,
``Baker``, ``Hope``, ``Victoria``, ``White`` and ``Will`` stay people. A span after a person cue
(a title such as ``Mr.``, ``named``, ``called``, ``name is``) is kept whatever its words: the cue says
it is a name. Words of one or two letters never count as common: initials (``Mr F. L.``) and name
particles (``Du Cane``, ``de``). A span that runs on past a possessive into such words (``Faina Yefremova's Cautionary
Tales``) ends before the possessive. Pattern-validated spans are never touched.

Shape: a ``services.anonymization.heuristics`` heuristic (``apply(text, hard, soft) -> soft``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..languages.identify import language_at, plainly_english
from ..name_lexicon import given_names, surnames

COMMON_ZIPF = 3.5
ENGLISH_MARGIN = 1.0  # Zipf units: at least 10x more frequent in English than in any language below
OTHER_LANGUAGES = ("de", "fr", "es", "it", "nl", "pt")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_POSSESSIVE = re.compile(r"['’]s[ \t]+(?=\S)")
_PERSON_CUE = re.compile(
    r"(?i:\b(?:mr|mrs|ms|miss|mx|dr|prof|sir|dame|lady|lord)\.?|\bnamed|\bcalled|\bname[ \t]+is"
    r"|\bname's|\bnamens?)[ \t]*$")


@lru_cache(maxsize=65536)
def _common_non_name(word: str) -> bool:
    """True when ``word`` is common in English and no locale's given name or surname."""
    from wordfreq import zipf_frequency

    if word.endswith(("'s", "’s")):
        word = word[:-2]
    if len(word) < 3:
        return False  # initials (``J. P.``) and name particles (``du``, ``de``, ``van``)
    name = word[:1].upper() + word[1:].lower()
    if name in given_names() or name in surnames():
        return False
    english = zipf_frequency(word, "en", wordlist="small")
    if english < COMMON_ZIPF:
        return False
    # A famous person's name is written alike in every language's text (``Putin``, ``Einstein``,
    # ``Biden``); an English word is far more frequent in English than in the other six.
    return english - max(zipf_frequency(word, lang, wordlist="small") for lang in OTHER_LANGUAGES) >= ENGLISH_MARGIN


def drop_common_words(text: str, hard: list, soft: list) -> list:
    """``apply(text, hard, soft) -> soft`` (module docstring)."""
    out = []
    for span in soft:
        if span[0] == "PERSON":
            possessive = _POSSESSIVE.search(text, span[1], span[2])
            if possessive and _only_common_words(text, [span[0], possessive.end(), span[2]]):
                span[2] = possessive.start()  # ``Faina Yefremova's Cautionary Tales``: the author
            elif _only_common_words(text, span):
                continue
        out.append(span)
    return out


def _only_common_words(text: str, span: list) -> bool:
    words = _WORD.findall(text, span[1], span[2])
    if not words or not all(_common_non_name(w) for w in words):
        return False
    if _PERSON_CUE.search(text, max(0, span[1] - 12), span[1]):
        return False
    return plainly_english(text) or language_at(text, span[1]) == "en"
