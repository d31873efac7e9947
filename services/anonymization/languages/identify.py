"""Language identification per text and per passage, offline, with Lingua (``lingua-language-detector``,
Apache-2.0: n-gram models shipped inside the wheel, nothing downloaded).

Cost control (``make bench`` keeps the anonymization rate >= 5x plain Presidio):

* Lingua is restricted to the seven supported languages (``SUPPORTED``); ``preload()`` loads its
  models once per process (about 1 s and 200 MB measured on an idle machine), so that no text pays
  for loading, which under a per-text detection budget would fail the first foreign text. Pieces up to ``SHORT`` code points get the full models,
  longer ones the low-accuracy (trigram) mode, about 5 times faster: on short texts the
  low-accuracy mode mistook 9 in 80 Italian and 6 in 80 Portuguese texts, the full mode 1 and 0.
* a text that is *plainly English* never reaches Lingua: English function words outnumber the six
  other languages' function words by at least 3 to 1 (a text with no function word at all, such as
  ``Kontoinhaber: Peter Meier`` or a log line, goes to Lingua); a text with non-ASCII letters needs
  three English function words and none of another language;
* texts of at most ``SINGLE_PASSAGE_MAX`` code points get one language; longer ones are cut into
  sentences and lines (a piece shorter than ``MIN_PASSAGE`` joins the one before it), each is given
  its language the same way, and neighbours of one language are joined into passages
  (``Passage(lang, start, end)``, covering the text). (Lingua's own ``detect_multiple_languages_of``
  mislabels short stretches in low-accuracy mode: ``Hello, ... today?`` came back in three parts.)
* results are cached per text (the recognizers and heuristics of one text ask several times).

Returns ISO 639-1 codes. Nothing here logs or raises with text content.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

SUPPORTED = ("en", "de", "fr", "es", "pt", "it", "nl")
SINGLE_PASSAGE_MAX = 200
MIN_PASSAGE = 40
SHORT = 80  # pieces up to this many code points get Lingua's full models, longer ones its fast mode
SAMPLE = 200  # code points of a piece that decide its language (bounds Lingua's time)

# Function words that appear in one language only (among the seven), lower case.
_FUNCTION = {
    "en": "the and is are was were this that with you your have has not what which would could should from "
          "they their there been will please my our i it's don't can't i'm to of in on at by for an or but if "
          "as it its be he she his her him we us they them who whom whose why how when where so very about "
          "into over after before because just also only than then did does do can may might must shall "
          "any some all more most such own same too here these those been being had having isn't aren't "
          "wasn't didn't doesn't won't i've i'll you're we're they're what's let's me mine yours",
    "de": "und ist ich nicht der das die dem den ein eine einen mein meine sein seine ihr ihre wir sie "
          "bitte mit auf für ist sind war haben habe ist auch noch wohne heiße bin",
    "fr": "le la les est et je une des du un mon ma mes votre vous nous pas avec pour dans sur suis "
          "c'est j'ai au aux qui merci",
    "es": "el los las es y una del mi mis su sus usted por para con estoy soy está gracias hola nombre "
          "vivo llamo también",
    "pt": "o os um uma do da dos das meu minha não com para em obrigado olá nome chamo moro está é",
    "it": "il gli lo è sono di della del mio mia non con per una grazie ciao nome chiamo abito anche",
    "nl": "het een ik niet en van mijn is zijn met voor op wij jij bedankt naam heet woon ook",
}
_OTHER = frozenset(w for lang, ws in _FUNCTION.items() if lang != "en" for w in ws.split())
# Words English shares with the others (``also``, ``was``, ``will`` in German; ``in``; Italian ``i``;
# Spanish ``me``, ``he``; Portuguese ``as``; French ``on``; Dutch ``over``) are not evidence.
_SHARED = frozenset("also an in so was will i me he as on over mine hier".split())
_ENGLISH = frozenset(_FUNCTION["en"].split()) - _OTHER - _SHARED
_OTHER_ONLY = _OTHER - frozenset(_FUNCTION["en"].split())
_WORD = re.compile(r"[^\W\d_][^\W\d_'’]*(?:['’][^\W\d_]+)?")


class Passage(NamedTuple):
    """One passage: ``lang`` (ISO 639-1), ``start``/``end`` code-point offsets into the text."""

    lang: str
    start: int
    end: int


def plainly_english(text: str) -> bool:
    """True when ``text`` needs no language model to be read as English (see the module docstring)."""
    english = other = 0
    for m in _WORD.finditer(text.lower()):
        w = m.group()
        english += w in _ENGLISH
        other += w in _OTHER_ONLY
    if not text.isascii():  # ``José Núñez called``: accented names in English need more evidence
        return english >= 3 and other == 0
    return english >= 1 and english >= 3 * other


_DETECTOR: dict = {}


def _detector(fast: bool = False):
    """Lingua restricted to ``SUPPORTED``: the full models, or (``fast``) the trigram-only ones."""
    if fast not in _DETECTOR:
        from lingua import Language, LanguageDetectorBuilder

        langs = [Language.ENGLISH, Language.GERMAN, Language.FRENCH, Language.SPANISH,
                 Language.PORTUGUESE, Language.ITALIAN, Language.DUTCH]
        builder = LanguageDetectorBuilder.from_languages(*langs).with_preloaded_language_models()
        _DETECTOR[fast] = (builder.with_low_accuracy_mode() if fast else builder).build()
    return _DETECTOR[fast]


def preload() -> None:
    """Load the language models now (the detection engine's recognizers call this when built)."""
    _detector(False)
    _detector(True)


def _code(language) -> str:
    return language.iso_code_639_1.name.lower() if language is not None else "en"


# A sentence or line and the blanks after it; possessive runs, so linear (pieces are contiguous).
_SENTENCE = re.compile(r"[^.!?\n]*+(?:[.!?]++|\n)?[ \t\n]*+")


def _one(text: str) -> str:
    """The language of one piece of text, read from its first ``SAMPLE`` code points."""
    text = text[:SAMPLE]
    if plainly_english(text):
        return "en"
    return _code(_detector(len(text) > SHORT).detect_language_of(text))


@lru_cache(maxsize=1024)
def passages(text: str) -> tuple[Passage, ...]:
    """The passages of ``text`` with their language; one passage for short or plainly English texts.

    :param text: any str. :returns: passages in order, covering ``[0, len(text))`` (empty text: one
        empty English passage).
    """
    if len(text) <= SINGLE_PASSAGE_MAX or plainly_english(text):
        return (Passage(_one(text), 0, len(text)),)
    pieces: list[list[int]] = []
    for m in _SENTENCE.finditer(text):
        if m.end() == m.start():
            continue
        if pieces and (m.end() - m.start() < MIN_PASSAGE or pieces[-1][1] - pieces[-1][0] < MIN_PASSAGE):
            pieces[-1][1] = m.end()
        else:
            pieces.append([m.start(), m.end()])
    out: list[Passage] = []
    for start, end in pieces:
        lang = _one(text[start:end])
        if out and out[-1].lang == lang:
            out[-1] = Passage(lang, out[-1].start, end)
        else:
            out.append(Passage(lang, start, end))
    return tuple(out) or (Passage("en", 0, len(text)),)


def language_at(text: str, pos: int) -> str:
    """The language of the passage holding code point ``pos`` of ``text``."""
    for p in passages(text):
        if p.start <= pos < p.end:
            return p.lang
    return passages(text)[-1].lang


def languages_of(text: str) -> frozenset[str]:
    """Every language found in ``text``."""
    return frozenset(p.lang for p in passages(text))
