"""Audit replay and verification over the five services' event logs.

``read_logs`` streams every service's log over ``ReadEvents``. ``timeline`` merges them into one
lifecycle history (optionally of one subject). ``verify`` checks each log's shape and the services'
agreement with each other, and returns violations by kind, each naming service, position and ids:

* LOG_GAP: positions are not gap-free from 1 (an event was dropped or inserted);
* PII_IN_EVENT: an attribute holds an e-mail address or a full IP address in clear;
* RECORD_WITHOUT_SCHEDULE / SCHEDULE_WITHOUT_RECORD: vault and retention disagree;
* INGESTED_NOT_STORED: an ingested interaction's record is missing in the vault;
* EXPIRED_NOT_PURGED: retention expired a record the vault never purged;
* ERASURE_INCOMPLETE: a fulfilled erasure lacks the vault's shred or retention's closing;
* ERASED_SCHEDULE_OPEN: a shredded generation still has a live schedule;
* READ_AFTER_ERASURE: a record was read after its key generation was shredded;
* REQUEST_OVERDUE: a data-subject request is open past its deadline.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from shared.clients import Peers
from shared.config import SERVICES
from shared.gen.lethe.v1 import events_pb2, events_pb2_grpc, retention_pb2, retention_pb2_grpc

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d./])")


@dataclass(frozen=True)
class Entry:
    """One event of one service's log, decoded."""

    service: str
    position: int
    event: str
    originator_id: str
    version: int
    recorded_at: dt.datetime
    attributes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        attrs = {k: v for k, v in self.attributes.items() if k != "originator_topic"}
        return {"time": self.recorded_at.isoformat(), "service": self.service,
                "position": self.position, "event": self.event, "id": self.originator_id,
                "attributes": attrs}


@dataclass(frozen=True)
class Violation:
    """A broken guarantee: kind, service, position and a message with ids only."""

    kind: str
    service: str
    position: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"kind": self.kind, "service": self.service, "position": self.position,
                "message": self.message}


def read_logs(peers: Peers) -> dict[str, list[Entry]]:
    """Every service's log, in order (retention first catches up with the vault's log)."""
    retention_pb2_grpc.RetentionServiceStub(peers.channel("retention")).ListSchedules(
        retention_pb2.ListSchedulesRequest(subject_ref=""), timeout=60)
    logs: dict[str, list[Entry]] = {}
    for service in SERVICES:
        stub = events_pb2_grpc.EventLogServiceStub(peers.channel(service))
        logs[service] = [
            Entry(service, e.position, e.event_type, e.originator_id, e.originator_version,
                  e.recorded_at.ToDatetime(tzinfo=dt.timezone.utc), json.loads(e.attributes_json))
            for e in (r.event for r in stub.ReadEvents(events_pb2.ReadEventsRequest(), timeout=600))]
    return logs


def timeline(logs: dict[str, list[Entry]], subject_ref: str | None = None) -> list[Entry]:
    """All events in time order; with ``subject_ref``, only those of that subject's aggregates."""
    entries = [e for log in logs.values() for e in log]
    if subject_ref:
        ids = {e.originator_id for e in entries if e.attributes.get("subject_ref") == subject_ref}
        entries = [e for e in entries if e.originator_id in ids]
    return sorted(entries, key=lambda e: (e.recorded_at, SERVICES.index(e.service), e.position))


def _values(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _values(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _values(v)]
    return [obj] if isinstance(obj, str) else []


def verify(logs: dict[str, list[Entry]], now: dt.datetime | None = None) -> list[Violation]:
    """Check every log and the services' agreement; returns violations (empty = intact)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    out: list[Violation] = []
    by: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for service, log in logs.items():
        for expected, e in enumerate(log, start=1):
            if e.position != expected:
                out.append(Violation("LOG_GAP", service, e.position,
                                     f"expected position {expected}"))
                break
        for e in log:
            by[(service, e.event)].append(e)
            for value in _values(e.attributes):
                if _EMAIL.search(value) or _IPV4.search(value):
                    out.append(Violation("PII_IN_EVENT", service, e.position,
                                         f"{e.event} holds an e-mail or IP address"))
                    break
    stored = {e.originator_id: e for e in by[("vault", "RecordStored")]}
    purged = {e.originator_id for e in by[("vault", "RecordPurged")]}
    shreds = by[("vault", "SubjectShredded")]
    shredded_gen: dict[str, tuple[int, dt.datetime]] = {}
    for e in shreds:
        shredded_gen[e.attributes["subject_ref"]] = (int(e.attributes["generation"]),
                                                     e.recorded_at)
    shred_requests = {e.attributes["request_id"] for e in shreds}

    def erased(record_id: str) -> bool:
        s = stored.get(record_id)
        if s is None:
            return False
        hit = shredded_gen.get(s.attributes["subject_ref"])
        return hit is not None and int(s.attributes["generation"]) <= hit[0]

    schedules = {e.originator_id: e for e in by[("retention", "ScheduleCreated")]}
    for rid, e in stored.items():
        if rid not in schedules:
            out.append(Violation("RECORD_WITHOUT_SCHEDULE", "vault", e.position, f"record {rid}"))
    for rid, e in schedules.items():
        if rid not in stored:
            out.append(Violation("SCHEDULE_WITHOUT_RECORD", "retention", e.position, f"record {rid}"))
    for e in by[("retention", "RecordExpired")]:
        if e.originator_id not in purged and not erased(e.originator_id):
            out.append(Violation("EXPIRED_NOT_PURGED", "retention", e.position,
                                 f"record {e.originator_id}"))
    for e in by[("ingestion", "InteractionIngested")]:
        for rid in e.attributes.get("record_ids", []):
            if rid not in stored:
                out.append(Violation("INGESTED_NOT_STORED", "ingestion", e.position, f"record {rid}"))
    closed = {e.originator_id for e in by[("retention", "ScheduleClosedByErasure")]}
    closed |= {e.originator_id for e in by[("retention", "RecordExpired")]}
    for rid, e in schedules.items():
        if erased(rid) and rid not in closed and e.attributes.get("state") == "scheduled":
            out.append(Violation("ERASED_SCHEDULE_OPEN", "retention", e.position, f"record {rid}"))
    for e in by[("vault", "RecordRead")]:
        s = stored.get(e.originator_id)
        hit = shredded_gen.get(s.attributes["subject_ref"]) if s else None
        if hit and int(s.attributes["generation"]) <= hit[0] and e.recorded_at > hit[1]:
            out.append(Violation("READ_AFTER_ERASURE", "vault", e.position,
                                 f"record {e.originator_id}"))
    rights: dict[str, list[Entry]] = defaultdict(list)
    for e in logs.get("rights", []):
        rights[e.originator_id].append(e)
    for events in rights.values():
        names = {e.event for e in events}
        first = events[0].attributes
        if first.get("kind") == "erasure" and "RequestFulfilled" in names:
            done = events[-1]
            if not {"VaultShredCompleted", "SchedulesClosed"} <= names \
                    or first["request_id"] not in shred_requests:
                out.append(Violation("ERASURE_INCOMPLETE", "rights", done.position,
                                     f"request {first['request_id']}"))
        if not names & {"RequestFulfilled", "RequestDenied"}:
            due = dt.datetime.fromisoformat(str(first.get("due_at")))
            if now > due:
                out.append(Violation("REQUEST_OVERDUE", "rights", events[0].position,
                                     f"request {first.get('request_id')}"))
    return out
