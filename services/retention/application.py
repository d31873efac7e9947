"""Retention use cases: schedule stored records, sweep, legal holds, tickets, erasure, objections.

Schedules come from following the vault's log (``RecordStored``), so a record stored while this
service was down is scheduled when it comes back. Objections come from following the rights log.
An in-memory index (rebuilt from this service's own log at start-up) orders schedules by deadline,
so a sweep costs in proportion to what expires, not to what is stored.
"""

from __future__ import annotations

import bisect
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from services.retention.domain import (
    LegalHold,
    RecordSchedule,
    RetentionError,
    SubjectStatus,
    Sweep,
    hold_covers,
)
from shared.app import LetheApplication, event_attributes, event_type
from shared.config import Settings
from shared.errors import NotFound, require
from shared.follower import Batch, UpstreamEvent
from shared.keysource import FileKeySource
from shared.policy import load_policy

OBJECTION_TO_TRAINING = "model-training"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _dt(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value)


class ScheduleIndex:
    """Projection of schedules, holds and objections, fed by :meth:`apply` with recorded events."""

    def __init__(self) -> None:
        self.schedules: dict[str, dict[str, Any]] = {}
        self.by_subject: dict[str, set[str]] = defaultdict(set)
        self.by_interaction: dict[str, set[str]] = defaultdict(set)
        self.due: list[tuple[dt.datetime, str]] = []
        self.holds: dict[str, dict[str, Any]] = {}
        self.objections: dict[str, set[str]] = defaultdict(set)

    def apply(self, kind: str, originator_id: str, attrs: dict[str, Any]) -> None:
        """Update the projection with one recorded event."""
        if kind == "ScheduleCreated":
            rid = originator_id
            entry = {"record_id": rid, **{k: attrs[k] for k in (
                "subject_ref", "category", "form", "rule", "interaction_id", "state")},
                "stored_at": _dt(attrs["stored_at"]), "due_at": _dt(attrs["due_at"])}
            self.schedules[rid] = entry
            self.by_subject[entry["subject_ref"]].add(rid)
            self.by_interaction[entry["interaction_id"]].add(rid)
            if entry["due_at"] and entry["state"] == "scheduled":
                bisect.insort(self.due, (entry["due_at"], rid))
        elif kind == "DeadlineSet":
            entry = self.schedules[originator_id]
            entry["due_at"] = _dt(attrs["due_at"])
            bisect.insort(self.due, (entry["due_at"], originator_id))
        elif kind == "RecordExpired":
            self.schedules[originator_id]["state"] = "expired"
        elif kind == "ScheduleClosedByErasure":
            self.schedules[originator_id]["state"] = "erased"
        elif kind == "HoldPlaced":
            self.holds[attrs["hold_id"]] = {**attrs, "active": True}
        elif kind == "HoldReleased":
            for hold in self.holds.values():
                if str(LegalHold.create_id(hold["hold_id"])) == originator_id:
                    hold["active"] = False
        elif kind == "ObjectionNoted":
            subject = attrs.get("subject_ref")
            if subject:
                self.objections[subject].add(attrs["purpose"])

    def due_at_or_before(self, at: dt.datetime) -> list[dict[str, Any]]:
        """Live schedules whose deadline is at or before ``at`` (earliest first)."""
        end = bisect.bisect_right(self.due, (at, "\uffff"))
        out, seen = [], set()
        for due_at, rid in self.due[:end]:
            entry = self.schedules[rid]
            if entry["state"] == "scheduled" and entry["due_at"] == due_at and rid not in seen:
                seen.add(rid)
                out.append(entry)
        return out

    def compact(self) -> None:
        """Drop closed entries from the deadline list."""
        self.due = [(d, r) for d, r in self.due if self.schedules[r]["state"] == "scheduled"]

    def hold_for(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        """The first active hold that names the record, its subject or its category and whose
        reason the record's policy rule accepts (``hold_reasons`` in the policy file)."""
        allowed = self.allowed_reasons(entry["category"])
        for hold in self.holds.values():
            if hold["reason"] in allowed and hold_covers(hold, entry):
                return hold
        return None

    def allowed_reasons(self, category: str) -> tuple[str, ...]:  # replaced by the application
        """Hold reasons the policy accepts for a category."""
        return ()

    def held(self, entry: dict[str, Any]) -> bool:
        """True when a hold keeps the record past its deadline."""
        return self.hold_for(entry) is not None


class RetentionApplication(LetheApplication):
    """The retention service's application.

    ``read_redacted(ids)`` returns [(subject_ref, text)] for aggregation, ``aggregate(inputs)``
    returns the number of texts aggregated, ``purge(ids, sweep_id)`` deletes ciphertext in the vault.
    """

    service = "retention"

    def __init__(self, settings: Settings, keys: FileKeySource,
                 read_redacted: Callable[[list[str]], list[tuple[str, str]]] | None = None,
                 aggregate: Callable[[list[tuple[str, str]], str], int] | None = None,
                 purge: Callable[[list[str], str], int] | None = None) -> None:
        self.index = ScheduleIndex()
        super().__init__(settings, keys)
        self.policy = load_policy()
        self.index.allowed_reasons = lambda category: self.policy.rule_for(category).hold_reasons
        self.read_redacted = read_redacted
        self.aggregate = aggregate
        self.purge = purge
        self.catch_up: Callable[[], None] = lambda: None
        self.rebuild_projections()

    def on_recorded(self, event: Any) -> None:  # noqa: D102
        self.index.apply(event_type(event), str(event.originator_id), event_attributes(event))

    # ---- following ----
    def _status(self, subject_ref: str, batch: Batch) -> SubjectStatus:
        status = batch.get(SubjectStatus.create_id(subject_ref))
        if status is None:
            status = SubjectStatus(subject_ref)
            batch.add(status)
        return status

    def on_vault_event(self, event: UpstreamEvent, batch: Batch) -> None:
        """React to the vault's log: schedule stored records; close erased subjects."""
        a = event.attributes
        if event.event_type == "RecordStored":
            rid = uuid.UUID(event.originator_id)
            if batch.get(rid) is not None:
                return
            rule = self.policy.rule_for(a["category"])
            received = _dt(a["received_at"])
            # The retention clock starts when the data was collected (DESIGN.md §3), never later
            # than when Lethe received it: back-filled content does not outlive its period.
            collected = min(_dt(a.get("occurred_at")) or received, received)
            status = batch.get(SubjectStatus.create_id(a["subject_ref"]))
            erased = status is not None and status.erased_after(received)
            batch.add(RecordSchedule(
                record_id=rid, subject_ref=a["subject_ref"], category=a["category"],
                form=a["form"], rule=rule.rule, interaction_id=a["interaction_id"],
                stored_at=collected, due_at=rule.due_at(collected),
                state="erased" if erased else "scheduled"))
        elif event.event_type == "SubjectShredded":
            self._forget(a["subject_ref"], a["request_id"], _dt(a["erased_at"]), batch)

    def on_rights_event(self, event: UpstreamEvent, batch: Batch) -> None:
        """React to the rights log: note objections."""
        a = event.attributes
        if event.event_type == "ObjectionRecorded":
            status = self._status(a["subject_ref"], batch)
            if a["purpose"] not in status.objections:
                status.note_objection(subject_ref=a["subject_ref"], purpose=a["purpose"],
                                  request_id=a["request_id"])

    def _forget(self, subject_ref: str, request_id: str, erased_at: dt.datetime,
                batch: Batch) -> int:
        status = self._status(subject_ref, batch)
        if request_id not in status.erasures:
            status.forget(request_id=request_id, erased_at=erased_at)
        closed = 0
        for rid in sorted(self.index.by_subject.get(subject_ref, ())):
            schedule = batch.get(uuid.UUID(rid))
            if schedule is not None and schedule.state == "scheduled":
                schedule.close_for_erasure(request_id=request_id)
                batch.add(schedule)
                closed += 1
        return closed

    # ---- use cases ----
    def forget_subject(self, subject_ref: str, request_id: str, erased_at: dt.datetime) -> int:
        """Close every schedule of an erased subject; returns how many were closed now."""
        require(bool(subject_ref) and bool(request_id), "subject_ref and request_id are required",
                "ARGUMENT_MISSING")
        with self.lock:
            batch = Batch(self)
            closed = self._forget(subject_ref, request_id, erased_at, batch)
            self.save(*batch.aggregates.values())
            return closed

    def list_schedules(self, subject_ref: str) -> list[dict[str, Any]]:
        """A subject's schedules, oldest first (with the rule's purposes)."""
        self.catch_up()
        with self.lock:
            entries = [dict(self.index.schedules[r]) for r in self.index.by_subject.get(subject_ref, ())]
        for entry in entries:
            entry["purposes"] = list(self.policy.rule_for(entry["category"]).purposes)
            hold = self.index.hold_for(entry)
            entry["hold_reason"] = hold["reason"] if hold else ""
            entry["hold_names_subject"] = bool(hold and (hold["subject_ref"] or hold["record_id"]))
        return sorted(entries, key=lambda e: (e["stored_at"], e["record_id"]))

    def sweep(self, at: dt.datetime | None = None, request_id: str = "") -> dict[str, int]:
        """Expire what is due at ``at`` (default now): aggregate redacted content, purge, record.

        Idempotent by ``request_id`` (default: derived from ``at``). Raises Unavailable when the
        vault or anonymization cannot be reached; then nothing is marked expired.
        """
        at = at or _now()
        sweep_id = request_id or "sweep-" + at.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        self.catch_up()
        with self.lock:
            try:
                return dict(self.repository.get(Sweep.create_id(sweep_id)).result)
            except AggregateNotFoundError:
                pass
            due = self.index.due_at_or_before(at)
            held = [e for e in due if self.index.held(e)]
            expiring = [e for e in due if not self.index.held(e)]
            eligible, excluded = [], set()
            for e in expiring:
                rule = self.policy.rule_for(e["category"])
                if rule.at_expiry != "purge_and_aggregate" or e["form"] != "redacted":
                    continue
                if (rule.objection_purpose or OBJECTION_TO_TRAINING) in \
                        self.index.objections.get(e["subject_ref"], ()):
                    excluded.add(e["subject_ref"])
                    continue
                eligible.append(e["record_id"])
            aggregated = 0
            if eligible and self.read_redacted and self.aggregate:
                aggregated = self.aggregate(self.read_redacted(eligible), sweep_id)
            ids = [e["record_id"] for e in expiring]
            if ids and self.purge:
                for i in range(0, len(ids), 5000):
                    self.purge(ids[i:i + 5000], sweep_id)
            aggregated_ids = set(eligible) if aggregated else set()
            changed = []
            for e in expiring:
                schedule = self.repository.get(uuid.UUID(e["record_id"]))
                schedule.expire(sweep_id=sweep_id, swept_at=at,
                                aggregated=e["record_id"] in aggregated_ids)
                changed.append(schedule)
            record = Sweep(sweep_id=sweep_id, at=at, expired=len(expiring), held=len(held),
                           aggregated=aggregated, excluded_by_objection=len(excluded))
            self.save(*changed, record)
            self.index.compact()
            return dict(record.result)

    def place_hold(self, hold_id: str, subject_ref: str, record_id: str, category: str,
                   reason: str, reference: str) -> str:
        """Place a legal hold (idempotent by ``hold_id``); returns the hold id."""
        require(bool(hold_id), "request_id is required", "REQUEST_ID_MISSING")
        LegalHold.check_target(subject_ref, record_id, category, reason)
        with self.lock:
            if hold_id in self.index.holds:
                return hold_id
            named = category or (self.index.schedules.get(record_id, {}).get("category") if record_id else "")
            if record_id and not named:
                raise NotFound("no such record", "RECORD_NOT_FOUND")
            if named and reason not in self.policy.rule_for(named).hold_reasons:
                raise RetentionError("the retention policy does not extend this category for "
                                     "this reason (see hold_reasons in the policy file)",
                                     "HOLD_REASON_NOT_IN_POLICY")
            self.save(LegalHold(hold_id=hold_id, subject_ref=subject_ref, record_id=record_id,
                                category=category, reason=reason, reference=reference,
                                placed_at=_now()))
            return hold_id

    def release_hold(self, hold_id: str) -> bool:
        """Release a hold; False when it was already released. Raises NotFound when unknown."""
        with self.lock:
            if hold_id not in self.index.holds:
                raise NotFound("no such hold", "HOLD_NOT_FOUND")
            hold = self.repository.get(LegalHold.create_id(hold_id))
            if not hold.active:
                return False
            hold.release(released_at=_now())
            self.save(hold)
            return True

    def list_holds(self, include_released: bool = False) -> list[dict[str, Any]]:
        """Legal holds, oldest first: hold_id, subject_ref, record_id, category, reason,
        reference, placed_at (UTC), active."""
        with self.lock:
            holds = [dict(h) for h in self.index.holds.values()]
        holds = [h for h in holds if include_released or h["active"]]
        return sorted(holds, key=lambda h: (str(h["placed_at"]), h["hold_id"]))

    def resolve_ticket(self, interaction_id: str, resolved_at: dt.datetime | None = None) -> int:
        """Start the administrative period of a support ticket's contact data; returns count."""
        resolved_at = resolved_at or _now()
        with self.lock:
            changed = []
            for rid in sorted(self.index.by_interaction.get(interaction_id, ())):
                entry = self.index.schedules[rid]
                rule = self.policy.rule_for(entry["category"])
                if entry["due_at"] is None and entry["state"] == "scheduled" and rule.until_event:
                    schedule = self.repository.get(uuid.UUID(rid))
                    schedule.set_deadline(due_at=rule.due_at(entry["stored_at"], resolved_at),
                                          cause=rule.until_event)
                    changed.append(schedule)
            if not changed and interaction_id not in self.index.by_interaction:
                raise NotFound("no schedules for this interaction", "INTERACTION_NOT_FOUND")
            self.save(*changed)
            return len(changed)
