"""Ages of people: ``41 years old``, ``aged 41``, ``age: 41``, ``a 41-year-old``."""

from __future__ import annotations

from typing import Optional

from .base import LetheRegexRecognizer


class LetheAgeRecognizer(LetheRegexRecognizer):
    """The number of an age statement; 0-120 only."""

    ENTITY = "AGE"
    FLAGS = 2  # re.IGNORECASE
    PATTERNS = [
        ("years_old", r"\b(?P<v>\d{1,3})(?:\s*|-)(?:years?|yrs?|y)[\s-]*(?:old|of age)\b", 0.8),
        ("aged", r"\b(?:aged?|age:|age is|age of)\s*(?P<v>\d{1,3})\b", 0.75),
        ("yo", r"\b(?P<v>\d{1,3})\s?(?:y/o|yo|y\.o\.)(?!\w)", 0.75),
        ("turned", r"\b(?:turned|turning|turns)\s+(?P<v>\d{1,3})\b", 0.6),
    ]

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """Reject numbers that cannot be a human age."""
        return score if int(text[start:end]) <= 120 else None
