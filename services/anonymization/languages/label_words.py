"""The heuristic that keeps function words, greetings and field labels of the six other languages out of
PERSON, LOCATION and ORGANIZATION spans (the English model reads ``Mein Name``, ``Sein Geburtsdatum``,
``Kontoinhaber`` or ``Transferencia`` as names).

Applied only where the passage's language (``identify.language_at``) is not English: a model-based
span loses its leading and trailing words that ``labels.is_not_name`` says are not names
(``de Lucía Fernández`` -> ``Lucía Fernández``, ``Hallo Thomas`` -> ``Thomas``), and is dropped when
no word is left (``Mein Name``). Spans holding a digit (addresses: ``Am Kirchberg 7a``) are kept
whole. Shape: a ``services.anonymization.heuristics`` heuristic.
"""

from __future__ import annotations

import re

from .identify import language_at, plainly_english
from .labels import is_not_name

_TYPES = frozenset({"PERSON", "LOCATION", "ORGANIZATION", "NRP"})
_WORD = re.compile(r"[^\s,;:()\"]+")


def drop_label_words(text: str, hard: list, soft: list) -> list:
    """``apply(text, hard, soft) -> soft`` (see ``services.anonymization.heuristics``)."""
    if not soft or plainly_english(text):
        return soft
    out = []
    for span in soft:
        if span[0] not in _TYPES or any(c.isdigit() for c in text[span[1]:span[2]]):
            out.append(span)
            continue
        lang = language_at(text, span[1])
        if lang == "en":
            out.append(span)
            continue
        words = [m for m in _WORD.finditer(text, span[1], span[2])]
        while words and is_not_name(words[0].group(), lang):
            words.pop(0)
        while words and is_not_name(words[-1].group(), lang):
            words.pop()
        if not words:
            continue
        span[1], span[2] = words[0].start(), words[-1].end()
        out.append(span)
    return out
