"""The gateway's own event log: every re-identification is recorded as an event.

``ResponseReidentified`` names the interaction only by its spool request id (a random UUID, the
same id its delivery to ingestion carries) and counts surrogates put back per entity type; it
never holds a value, a surrogate, an account or a session. The log is an ``eventsourcing``
application like the services' (``<data dir>/gateway/events.db``, AES-256-GCM event cipher with
the key ``event-cipher/gateway``).
"""

from __future__ import annotations

import uuid

from eventsourcing.domain import Aggregate, event

from shared.app import LetheApplication
from shared.ids import stable_id


class Reidentification(Aggregate):
    """The re-identification of one response (id derived from the interaction's request id)."""

    @staticmethod
    def create_id(request_id: str, **_: object) -> uuid.UUID:
        """One aggregate per interaction."""
        return stable_id("reidentification", request_id)

    @event("ResponseReidentified")
    def __init__(self, request_id: str, entity_counts: dict[str, int], streamed: bool) -> None:
        self.request_id = request_id
        self.entity_counts = entity_counts


class GatewayLog(LetheApplication):
    """The gateway's event store."""

    service = "gateway"

    def record_reidentification(self, request_id: str, entity_counts: dict[str, int],
                                streamed: bool) -> uuid.UUID:
        """Record that ``sum(entity_counts.values())`` surrogates were put back; returns the id."""
        aggregate = Reidentification(request_id=request_id, entity_counts=dict(entity_counts),
                                     streamed=streamed)
        with self.lock:
            self.save(aggregate)
        return aggregate.id
