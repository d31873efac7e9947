"""Languages other than English: which language a text or passage is in (``identify``), the words
that label a field rather than name a person in each language (``labels``), and the heuristic that
keeps those label words out of name and place spans (``label_words``).

Supported languages, as ISO 639-1 codes: ``en``, ``de``, ``fr``, ``es``, ``pt``, ``it``, ``nl``.
"""

from __future__ import annotations

from .identify import SUPPORTED, Passage, language_at, passages

__all__ = ["SUPPORTED", "Passage", "language_at", "passages"]
