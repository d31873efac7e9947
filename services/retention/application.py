"""Retention use cases: schedule stored records, sweep, legal holds, tickets, erasure, objections.

Schedules come from following the vault's log (``RecordStored``), so a record stored while this
service was down is scheduled when it comes back. Objections come from following the rights log.
The schedule index lives in this service's own SQL store (:mod:`services.retention.index`), so a
sweep costs in proportion to what expires and memory does not grow with what is stored.

Collection times (docs/design.md, retention): neither the vault's ``RecordStored`` nor this log
carries a per-record time or interaction id, since both logs outlive an erasure. The deadline is
computed from the collection time that the vault answers (``record_facts``, the vault's
``GetRecordFacts``, opened from the record's sealed facts while its key lives) and kept only in
the mutable index (:mod:`services.retention.facts`, after following the vault and before every
sweep and read), which forgets it when the record is erased. Rebuilding the index from the log
asks the vault again.

Sweeps work in chunks of :data:`CHUNK` records. Each chunk is purged in the vault under its own
request id, derived from the chunk's record ids, and its ``RecordExpired`` events are recorded only
after the vault confirmed the purge: a sweep interrupted between chunks leaves the rest live, and
the next sweep (any request id) purges and expires them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from eventsourcing.application import AggregateNotFoundError, LRUCache, Repository

from services.retention.domain import (
    ErasureAnswer,
    ErasureScope,
    LegalHold,
    RecordSchedule,
    RetentionError,
    SubjectStatus,
    Sweep,
    erasure_blockers,
    holds_keeping,
    names_target,
)
from services.retention.facts import FactFilling, RecordFactsSource
from services.retention.index import ScheduleIndex
from shared import record_kinds
from shared.app import LetheApplication, event_attributes, event_type, log
from shared.config import Settings
from shared.errors import NotFound, Unavailable, require
from shared.follower import Batch, UpstreamEvent
from shared.keysource import FileKeySource
from shared.policy import load_policy
from shared.store import open_store

OBJECTION_TO_TRAINING = "model-training"
CHUNK = 5000  # records per vault Purge call (and per recorded batch of RecordExpired events)
CACHED_AGGREGATES = 500  # a schedule is read about twice in its life: caching thousands buys nothing


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _dt(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value)


def chunk_request_id(kind: str, record_ids: list[str]) -> str:
    """Request id of one chunk sent to the vault or anonymization: ``<kind>.<digest>``.

    Derived from the chunk's record ids (SHA-256, 40 hex digits), so a retried chunk is the same
    request (answered idempotently) and two different chunks never share an id, whichever sweep
    sends them. Letters, digits and ``.`` only (the request-id alphabet).
    """
    digest = hashlib.sha256("\n".join(sorted(record_ids)).encode("ascii")).hexdigest()[:40]
    return f"{kind}.{digest}"


class RetentionApplication(FactFilling, LetheApplication):
    """The retention service's application.

    ``read_redacted(ids)`` returns [(subject_ref, text)] for aggregation, ``aggregate(inputs,
    request_id)`` returns the number of texts aggregated, ``purge(ids, request_id)`` deletes
    ciphertext in the vault and returns how many it purged now (idempotent by request id),
    ``record_facts(ids)`` returns {record_id: (collected_at, interaction_id)} for the live
    records among ``ids`` (UTC; absent: the vault no longer has the record).
    """

    service = "retention"

    def __init__(self, settings: Settings, keys: FileKeySource,
                 read_redacted: Callable[[list[str]], list[tuple[str, str]]] | None = None,
                 aggregate: Callable[[list[tuple[str, str]], str], int] | None = None,
                 purge: Callable[[list[str], str], int] | None = None,
                 record_facts: RecordFactsSource | None = None) -> None:
        self.index = ScheduleIndex(open_store(settings, "retention", "index"))
        super().__init__(settings, keys)
        self.policy = load_policy()
        self.read_redacted = read_redacted
        self.aggregate = aggregate
        self.purge = purge
        self.record_facts = record_facts
        self.catch_up: Callable[[], None] = lambda: None
        self.refresh()

    def close(self) -> None:  # noqa: D102
        super().close()
        self.index.store.close()

    def construct_repository(self) -> Repository:
        """The library's repository with a small aggregate cache (memory stays flat)."""
        repository = super().construct_repository()
        repository.cache = LRUCache(maxsize=CACHED_AGGREGATES)
        return repository

    def refresh(self, page: int = 1000) -> None:
        """Apply the events recorded since the index's stored position, one page per transaction
        (rows and position commit together, so a crash neither skips nor repeats an event)."""
        with self._projection_lock:
            while True:
                start = self.index.position()
                notes = self.recorder.select_notifications(start=start, limit=page,
                                                           inclusive_of_start=False)
                if not notes:
                    self._projected = start
                    return
                forgot = False
                with self.index.store.transaction():
                    for note in notes:
                        try:
                            event = self.mapper.to_domain_event(note)
                        except Exception:  # noqa: BLE001 - a tampered row: stay up, alarm
                            log.error("event %d of the retention log does not decode; run lethe "
                                      "audit verify", note.id)
                            continue
                        kind = event_type(event)
                        forgot |= kind in ("ScheduleClosedByErasure", "SubjectForgotten")
                        self.index.apply(kind, str(event.originator_id), event_attributes(event))
                    self.index.set_position(notes[-1].id)
                if forgot:  # no old WAL frame keeps an erased record's time or interaction id
                    self.index.store.scrub()

    rebuild_projections = refresh

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
            generation = int(a.get("generation") or 0)
            status = batch.get(SubjectStatus.create_id(a["subject_ref"]))
            erased = status is not None and status.shredded(a["category"], generation)
            batch.add(RecordSchedule(
                record_id=rid, subject_ref=a["subject_ref"], category=a["category"],
                form=a["form"], rule=rule.rule, state="erased" if erased else "scheduled",
                generation=generation))
        elif event.event_type == "SubjectShredded":
            scope = ErasureScope(int(a.get("generation") or 0), tuple(a.get("kept_categories") or ()))
            self._forget(a["subject_ref"], a["request_id"], _dt(a["erased_at"]), batch, scope)

    def on_rights_event(self, event: UpstreamEvent, batch: Batch) -> None:
        """React to the rights log: note objections."""
        a = event.attributes
        if event.event_type == "ObjectionRecorded":
            status = self._status(a["subject_ref"], batch)
            if a["purpose"] not in status.objections:
                status.note_objection(subject_ref=a["subject_ref"], purpose=a["purpose"],
                                      request_id=a["request_id"])

    def _forget(self, subject_ref: str, request_id: str, erased_at: dt.datetime,
                batch: Batch, scope: ErasureScope) -> int:
        """Note the erasure and close the live schedules its shred destroyed (``scope``): held
        categories and later generations stay scheduled, so they still expire and can be held."""
        status = self._status(subject_ref, batch)
        if request_id not in status.erasures:
            status.forget(request_id=request_id, erased_at=erased_at,
                          generation=scope.generation, kept_categories=list(scope.kept))
        closed = 0
        entries = self.index.for_subject(subject_ref, "scheduled")
        entries += [{"record_id": str(a.id), "category": a.category, "generation": a.generation}
                    for a in list(batch.aggregates.values()) if isinstance(a, RecordSchedule)
                    and a.subject_ref == subject_ref and a.state == "scheduled"]
        for entry in entries:
            if not scope.covers(entry["category"], entry["generation"]):
                continue
            schedule = batch.get(uuid.UUID(entry["record_id"]))
            if schedule is not None and schedule.state == "scheduled":
                schedule.close_for_erasure(request_id=request_id)
                batch.add(schedule)
                closed += 1
        return closed

    # ---- use cases ----
    def forget_subject(self, subject_ref: str, request_id: str, erased_at: dt.datetime,
                       scope: ErasureScope | None = None) -> int:
        """Close the schedules of an erased subject that ``scope`` covers (default: all of
        them); returns how many were closed now."""
        require(bool(subject_ref) and bool(request_id), "subject_ref and request_id are required",
                "ARGUMENT_MISSING")
        with self.lock:
            batch = Batch(self)
            closed = self._forget(subject_ref, request_id, erased_at, batch, scope or ErasureScope())
            self.save(*batch.aggregates.values())
            return closed

    def list_schedules(self, subject_ref: str) -> list[dict[str, Any]]:
        """A subject's schedules, oldest first, with the rule's purposes and the holds keeping
        each one: ``hold_reasons`` (every covering hold's reason whose policy entry preserves the
        record's category, sorted), ``hold_reason`` (the first of those naming the subject or
        record, else the first; "" when none) and ``hold_names_subject``."""
        self.catch_up()
        try:
            self.fill_facts()
        except Unavailable:  # listed without the times the vault has not answered yet
            log.warning("the vault cannot answer record facts; schedules listed without them")
        holds = self.index.holds(include_released=False)
        entries = self.index.for_subject(subject_ref)
        for entry in entries:
            entry["purposes"] = list(self.policy.rule_for(entry["category"]).purposes)
            keeping = holds_keeping(holds, entry, self.policy) if entry["state"] == "scheduled" else []
            naming = [h for h in keeping if names_target(h)]
            entry["hold_reasons"] = sorted({h["reason"] for h in keeping})
            first = naming or keeping
            entry["hold_reason"] = min(h["reason"] for h in first) if first else ""
            entry["hold_names_subject"] = bool(naming)
        return entries

    def erasure_blockers(self, subject_ref: str) -> ErasureAnswer:
        """What blocks this subject's erasure (GDPR Art. 17(3), CCPA 1798.105(d)): every active
        hold naming the subject or one of its live records whose reason preserves at least one of
        its categories, with its legal basis and the categories it preserves; the categories no
        hold preserves may be erased now. Raises InvalidArgument ARGUMENT_MISSING."""
        require(bool(subject_ref), "subject_ref is required", "ARGUMENT_MISSING")
        self.catch_up()
        return erasure_blockers(self.index.holds(include_released=False),
                                self.index.for_subject(subject_ref, "scheduled"), self.policy)

    def sweep(self, at: dt.datetime | None = None, request_id: str = "") -> dict[str, int]:
        """Expire what is due at ``at`` (default now, UTC): aggregate redacted content, purge,
        record. Returns expired, held, aggregated, excluded_by_objection.

        Chunk by chunk (:data:`CHUNK` records): each chunk is aggregated and purged under its own
        request id (:func:`chunk_request_id`) and its expiry recorded only after the vault
        confirmed the purge. Records expired by a v1 sweep whose purge is not confirmed are
        purged first. Idempotent by ``request_id`` (default: derived from ``at``); a retry of an
        interrupted sweep, or any later sweep, completes it. Raises Unavailable when the vault or
        anonymization cannot be reached; then the chunk in flight stays live.
        """
        at = at or _now()
        sweep_id = request_id or "sweep-" + at.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        self.catch_up()
        with self.lock:
            try:
                return dict(self.repository.get(Sweep.create_id(sweep_id)).result)
            except AggregateNotFoundError:
                pass
            self.fill_facts()
            self._purge_unconfirmed(sweep_id)
            holds = self.index.holds(include_released=False)
            held, aggregated, excluded = 0, 0, set()
            for page in self.index.due_pages(at, CHUNK):
                expiring = []
                for entry in page:
                    if holds_keeping(holds, entry, self.policy):
                        held += 1
                    else:
                        expiring.append(entry)
                done, subjects_out = self._expire_chunk(expiring, sweep_id, at)
                aggregated += done
                excluded |= subjects_out
            record = Sweep(sweep_id=sweep_id, at=at, expired=self.index.expired_by(sweep_id),
                           held=held, aggregated=aggregated, excluded_by_objection=len(excluded))
            self.save(record)
            return dict(record.result)

    def _expire_chunk(self, expiring: list[dict[str, Any]], sweep_id: str,
                      at: dt.datetime) -> tuple[int, set[str]]:
        """Aggregate, purge, then record the expiry of one chunk; returns (aggregated, subjects
        excluded by objection)."""
        if not expiring:
            return 0, set()
        eligible, excluded = [], set()
        for e in expiring:
            rule = self.policy.rule_for(e["category"])
            if rule.at_expiry != "purge_and_aggregate" or not record_kinds.by_form(e["form"]).aggregatable:
                continue
            if (rule.objection_purpose or OBJECTION_TO_TRAINING) in self.index.objections(e["subject_ref"]):
                excluded.add(e["subject_ref"])
                continue
            eligible.append(e["record_id"])
        aggregated = 0
        if eligible and self.read_redacted and self.aggregate:
            aggregated = self.aggregate(self.read_redacted(eligible),
                                        chunk_request_id("aggregate", eligible))
        ids = [e["record_id"] for e in expiring]
        if self.purge:
            self.purge(ids, chunk_request_id("purge", ids))
        aggregated_ids = set(eligible) if aggregated else set()
        changed = []
        for rid in ids:
            schedule = self.repository.get(uuid.UUID(rid))
            schedule.expire(sweep_id=sweep_id, swept_at=at, aggregated=rid in aggregated_ids,
                            purged=True)
            changed.append(schedule)
        self.save(*changed)
        return aggregated, excluded

    def _purge_unconfirmed(self, sweep_id: str) -> None:
        """Purge again what a v1 sweep marked expired without a confirmed purge."""
        while self.purge and (page := self.index.expired_unpurged(CHUNK)):
            ids = [e["record_id"] for e in page]
            self.purge(ids, chunk_request_id("repurge", ids))
            changed = []
            for rid in ids:
                schedule = self.repository.get(uuid.UUID(rid))
                schedule.confirm_purge(sweep_id=sweep_id)
                changed.append(schedule)
            self.save(*changed)

    def place_hold(self, hold_id: str, subject_ref: str, record_id: str, category: str,
                   reason: str, reference: str) -> str:
        """Place a legal hold (idempotent by ``hold_id``); returns the hold id.

        Raises RetentionError HOLD_TARGET_INVALID (not exactly one target), HOLD_REASON_INVALID
        (not in the policy), HOLD_HAS_NO_EFFECT (the reason preserves none of the target's
        categories: the named category, the record's, or the subject's live records'), and
        NotFound RECORD_NOT_FOUND. A hold on a subject with no live records is accepted: it
        keeps what arrives later.
        """
        require(bool(hold_id), "request_id is required", "REQUEST_ID_MISSING")
        LegalHold.check_target(subject_ref, record_id, category, reason, self.policy)
        with self.lock:
            if self.index.hold(hold_id) is not None:
                return hold_id
            categories = self._target_categories(subject_ref, record_id, category)
            if categories:
                LegalHold.check_has_effect(reason, categories, self.policy)
            self.save(LegalHold(hold_id=hold_id, subject_ref=subject_ref, record_id=record_id,
                                category=category, reason=reason, reference=reference,
                                placed_at=_now()))
            return hold_id

    def _target_categories(self, subject_ref: str, record_id: str, category: str) -> set[str]:
        if category:
            return {category}
        if record_id:
            entry = self.index.schedule(record_id)
            if entry is None:
                raise NotFound("no such record", "RECORD_NOT_FOUND")
            if entry["state"] != "scheduled":
                raise RetentionError("the record has expired or was erased", "RECORD_NOT_LIVE")
            return {entry["category"]}
        return {e["category"] for e in self.index.for_subject(subject_ref, "scheduled")}

    def release_hold(self, hold_id: str) -> bool:
        """Release a hold; False when it was already released. Raises NotFound when unknown."""
        with self.lock:
            if self.index.hold(hold_id) is None:
                raise NotFound("no such hold", "HOLD_NOT_FOUND")
            hold = self.repository.get(LegalHold.create_id(hold_id))
            if not hold.active:
                return False
            hold.release(released_at=_now())
            self.save(hold)
            return True

    def list_holds(self, include_released: bool = False) -> list[dict[str, Any]]:
        """Legal holds, oldest first: hold_id, subject_ref, record_id, category, reason,
        reference, placed_at (UTC), active, legal_basis, preserves (the policy's categories)."""
        holds = self.index.holds(include_released)
        for hold in holds:
            rule = self.policy.hold_reason(hold["reason"])
            hold["legal_basis"], hold["preserves"] = rule.legal_basis, list(rule.preserves)
        return sorted(holds, key=lambda h: (str(h["placed_at"]), h["hold_id"]))

    def resolve_ticket(self, interaction_id: str, resolved_at: dt.datetime | None = None) -> int:
        """Start the administrative period of a support ticket's contact data; returns count."""
        resolved_at = resolved_at or _now()
        self.fill_facts()
        with self.lock:
            entries = self.index.for_interaction(interaction_id)
            if not entries:
                raise NotFound("no schedules for this interaction", "INTERACTION_NOT_FOUND")
            changed = []
            for entry in entries:
                rule = self.policy.rule_for(entry["category"])
                if (entry["due_at"] is None and entry["state"] == "scheduled" and rule.until_event
                        and entry["stored_at"] is not None):
                    schedule = self.repository.get(uuid.UUID(entry["record_id"]))
                    schedule.set_deadline(due_at=rule.due_at(entry["stored_at"], resolved_at),
                                          cause=rule.until_event)
                    changed.append(schedule)
            self.save(*changed)
            return len(changed)

