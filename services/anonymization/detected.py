"""The result type of detection: one entity, offsets into the original text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Detected:
    """One detected entity.

    :ivar type: Presidio entity name (``PERSON``, ``EMAIL_ADDRESS``, ``SECRET``...).
    :ivar start: offset of the first code point in the original text.
    :ivar end: offset one past the last code point (exclusive).
    :ivar score: confidence in [0, 1].
    """

    type: str
    start: int
    end: int
    score: float
