"""The shared shape of the national identifier recognizers (one module per identifier kind):
a pattern from ``services.anonymization.languages.national_ids``, its checksum, and its cue words."""

from __future__ import annotations

from typing import ClassVar, Optional

from ..languages.national_ids import NATIONAL_IDS, has_id_cue, is_valid
from .base import LetheRegexRecognizer


class NationalIdRecognizer(LetheRegexRecognizer):
    """ID_NUMBER for values of one national identifier kind (``KEY``) whose checksum holds.

    Score 1.0 after a cue word (it wins a tie with a phone number: registered first), 0.85 without one (kinds that ``needs_cue`` are then rejected).
    """

    ENTITY = "ID_NUMBER"
    KEY: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.PATTERNS = [(cls.KEY, NATIONAL_IDS[cls.KEY].pattern, 0.85)]  # class-level: the timing fuzz reads it

    def __init__(self) -> None:
        self._needs_cue = NATIONAL_IDS[self.KEY].needs_cue
        super().__init__()

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """Checksum first; then the cue decides the score (or, for digit-only kinds, whether at all)."""
        if not is_valid(self.KEY, text[start:end]):
            return None
        if has_id_cue(self.KEY, text, start):
            return 1.0
        return None if self._needs_cue else score

    def analyze(self, text, entities, nlp_artifacts=None):  # noqa: D102 - every pattern needs a digit
        if not any(c.isdigit() for c in text):
            return []  # skip the regex scans on digit-free text (most chat prose)
        return super().analyze(text, entities, nlp_artifacts)
