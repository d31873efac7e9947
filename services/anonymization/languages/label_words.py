"""The heuristic that keeps function words, greetings and field labels of the six other languages out of
PERSON, LOCATION and ORGANIZATION spans (the English model reads ``Mein Name``, ``Sein Geburtsdatum``,
``Kontoinhaber`` or ``Transferencia`` as names).

Applied only where the passage's language (``identify.language_at``) is not English: a model-based
span loses its leading words that ``labels.is_not_name`` says are not names and its trailing labels
(``de Lucía Fernández`` -> ``Lucía Fernández``, ``Hallo Thomas`` -> ``Thomas``), and is dropped when
no word is left (``Mein Name``). A PERSON or ORGANIZATION of one word is dropped when it reads as a
common noun (``labels.is_common_noun``: ``im Feld``, ``die Lieferung``). Spans holding a digit (addresses: ``Am Kirchberg 7a``) are kept
whole, unless they hold nothing but numbers, units and labels (``14 Tagen``). Shape: a ``services.anonymization.heuristics`` heuristic.
"""

from __future__ import annotations

import re

from .identify import language_at, plainly_english
from .labels import is_common_noun, is_label, is_not_name

_TYPES = frozenset({"PERSON", "LOCATION", "ORGANIZATION", "NRP"})
_WORD = re.compile(r"[^\s,;:()\"]+")
_PREVIOUS = re.compile(r"([^\W\d_]+['’]?)[ \t]+$")


def drop_label_words(text: str, hard: list, soft: list) -> list:
    """``apply(text, hard, soft) -> soft`` (see ``services.anonymization.heuristics``)."""
    if not soft or plainly_english(text):
        return soft
    out = []
    for span in soft:
        lang = language_at(text, span[1]) if span[0] in _TYPES else "en"
        if lang == "en":
            out.append(span)
            continue
        words = [m for m in _WORD.finditer(text, span[1], span[2])]
        if any(c.isdigit() for c in text[span[1]:span[2]]):
            # An address keeps its words (``Am Kirchberg 7a``) unless no word but numbers and labels
            # is left (``14 Tagen``, ``Bestellnummer 48213``).
            if all(is_not_name(w.group(), lang) or not any(c.isalpha() for c in w.group()) for w in words):
                continue
            out.append(span)
            continue
        while words and is_not_name(words[0].group(), lang):
            words.pop(0)
        while words and is_label(words[-1].group(), lang):
            words.pop()  # labels only: a trailing stop word may be a surname (``Lorenz Lange``)
        if not words:
            continue
        if len(words) == 1 and span[0] != "LOCATION":
            before = _PREVIOUS.search(text, max(0, words[0].start() - 24), words[0].start())
            if is_common_noun(words[0].group(), before.group(1) if before else "", lang):
                continue
        span[1], span[2] = words[0].start(), words[-1].end()
        out.append(span)
    return out
