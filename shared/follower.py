"""Exactly-once following of another service's event log over gRPC.

A :class:`Follower` polls ``ReadEvents(after_position)`` of an upstream service and hands each
event to a policy function, then records the resulting aggregate events *and* a tracking record
(``eventsourcing.persistence.Tracking``: upstream name + position) in one transaction. After a crash
or an upstream outage it resumes from the last tracked position, so no reaction is lost and none is
applied twice (docs/design.md §1: reactions that must not be lost follow event logs).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.persistence import Tracking

from shared.app import LetheApplication
from shared.gen.lethe.v1 import common_pb2, events_pb2, events_pb2_grpc

log = logging.getLogger("lethe.follower")


@dataclass(frozen=True)
class UpstreamEvent:
    """An upstream event as the policy sees it."""

    position: int
    event_type: str
    originator_id: str
    attributes: dict[str, Any]

    @classmethod
    def from_proto(cls, event: common_pb2.LogEvent) -> UpstreamEvent:
        """Decode a LogEvent."""
        return cls(event.position, event.event_type, event.originator_id,
                   json.loads(event.attributes_json or "{}"))


class Batch:
    """The aggregates touched while processing one page of upstream events."""

    def __init__(self, app: LetheApplication) -> None:
        self.app = app
        self.aggregates: dict[uuid.UUID, Any] = {}

    def get(self, aggregate_id: uuid.UUID) -> Any | None:
        """The aggregate (from this batch or the repository), or None if it does not exist."""
        if aggregate_id in self.aggregates:
            return self.aggregates[aggregate_id]
        try:
            aggregate = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        self.aggregates[aggregate_id] = aggregate
        return aggregate

    def add(self, aggregate: Any) -> None:
        """Include a (new or changed) aggregate in this batch's save."""
        self.aggregates[aggregate.id] = aggregate


Policy = Callable[[UpstreamEvent, Batch], None]


class Follower(threading.Thread):
    """Background thread following one upstream log with tracking (exactly-once)."""

    def __init__(self, app: LetheApplication, upstream: str, channel: Callable[[], grpc.Channel],
                 policy: Policy, page: int = 500, poll_s: float = 0.2,
                 on_saved: Callable[[Batch], None] | None = None) -> None:
        super().__init__(name=f"follow-{upstream}", daemon=True)
        self.app = app
        self.upstream = upstream
        self.channel = channel
        self.policy = policy
        self.page = page
        self.poll_s = poll_s
        self.on_saved = on_saved
        self.stopping = threading.Event()

    def position(self) -> int:
        """The last upstream position processed (0 when none)."""
        return self.app.recorder.max_tracking_id(self.upstream) or 0

    def poll_once(self) -> int:
        """Process one page; returns the number of upstream events processed."""
        stub = events_pb2_grpc.EventLogServiceStub(self.channel())
        after = self.position()
        responses = stub.ReadEvents(events_pb2.ReadEventsRequest(after_position=after,
                                                                 limit=self.page), timeout=30)
        events = [UpstreamEvent.from_proto(r.event) for r in responses]
        if not events:
            return 0
        with self.app.lock:
            if self.position() != after:
                return len(events)  # another caller processed this page meanwhile; re-read
            batch = Batch(self.app)
            for event in events:
                self.policy(event, batch)
            processing = ProcessingEvent(Tracking(self.upstream, events[-1].position))
            processing.collect_events(*batch.aggregates.values())
            self.app._record(processing)  # noqa: SLF001 - the library's own way to record tracking
            if self.on_saved:
                self.on_saved(batch)
        return len(events)

    def run(self) -> None:  # noqa: D102
        backoff = self.poll_s
        while not self.stopping.is_set():
            try:
                if self.poll_once():
                    backoff = self.poll_s
                    continue
                backoff = self.poll_s
            except grpc.RpcError as exc:
                log.warning("upstream %s: %s", self.upstream, exc.code().name)
                backoff = min(backoff * 2, 5.0)
            except Exception as exc:  # noqa: BLE001 - keep following; never log event content
                log.error("following %s failed: %s", self.upstream, type(exc).__name__)
                backoff = min(backoff * 2, 5.0)
            self.stopping.wait(backoff)

    def stop(self) -> None:
        """Ask the thread to stop after its current page."""
        self.stopping.set()
