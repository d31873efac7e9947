"""Anonymization domain events: what was de-identified and what aggregates were released.

No text, value or subject ref is ever recorded here: only counts per entity type, and released
keyword statistics that at least k distinct subjects stand behind.
"""

from __future__ import annotations

import uuid

from eventsourcing.domain import Aggregate, event

from shared.ids import stable_id


class DeidentificationRun(Aggregate):
    """One Anonymize/AnonymizeBatch call (counts only)."""

    @event("TextsDeidentified")
    def __init__(self, texts: int, entity_counts: dict[str, int], operator: str) -> None:
        self.texts = texts


class Reidentification(Aggregate):
    """One Reidentify call: the session id and how many values of each type were put back (no
    value, no text)."""

    @event("TextsReidentified")
    def __init__(self, session_id: str, texts: int, entity_counts: dict[str, int]) -> None:
        self.session_id = session_id
        self.texts = texts
        self.entity_counts = entity_counts


class AggregateRelease(Aggregate):
    """One Aggregate call (id from its request id: a retry returns the first answer)."""

    @staticmethod
    def create_id(request_id: str, **_: object) -> uuid.UUID:
        """Stable id from the request id."""
        return stable_id("aggregate", request_id)

    @event("AggregateReleased")
    def __init__(self, request_id: str, k: int, texts_used: int, keywords: list[dict[str, object]],
                 keywords_suppressed: int) -> None:
        self.k = k
        self.texts_used = texts_used
        self.keywords = keywords
        self.keywords_suppressed = keywords_suppressed
