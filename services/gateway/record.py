"""The gateway's own event log: every re-identification and every interrupted turn is an event.

``ResponseReidentified`` names the interaction only by its spool request id (a random UUID, the
same id its delivery to ingestion carries) and counts surrogates put back per entity type; it
never holds a value, a surrogate, an account or a session. The log is an ``eventsourcing``
application like the services' (``<data dir>/gateway/events.db``, AES-256-GCM event cipher with
the key ``event-cipher/gateway``).

``TurnInterrupted`` says that the turn spooled under a request id was recorded incomplete, and
why (``client_disconnected``, ``upstream_failed``, ``upstream_timeout``, ``response_truncated``),
with the number of response characters kept; ingestion's ``Interaction`` has no field for it.
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


class Interruption(Aggregate):
    """The interruption of one turn (id derived from the interaction's request id)."""

    @staticmethod
    def create_id(request_id: str, **_: object) -> uuid.UUID:
        """One aggregate per interaction."""
        return stable_id("interruption", request_id)

    @event("TurnInterrupted")
    def __init__(self, request_id: str, cause: str, response_chars: int) -> None:
        self.request_id = request_id
        self.cause = cause
        self.response_chars = response_chars


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

    def record_interruption(self, request_id: str, cause: str, response_chars: int) -> uuid.UUID:
        """Record that the turn ``request_id`` was spooled incomplete; returns the event's id."""
        aggregate = Interruption(request_id=request_id, cause=cause, response_chars=response_chars)
        with self.lock:
            self.save(aggregate)
        return aggregate.id
