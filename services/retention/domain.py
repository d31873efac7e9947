"""Retention domain: schedules from the policy table, legal holds, subjects' objections and erasures.

Rules: a record expires at the deadline its policy rule sets (the policy file's retention table);
a legal hold naming the record, its subject or its category keeps it until released when the
hold's reason preserves the record's category (``[[hold_reasons]]`` in the policy file); every
covering hold counts, so the order in which holds were placed never matters; a hold that can keep
nothing of its target is refused. An erasure closes the schedules of what its shred destroyed (the
shredded key generations, but for the categories left under legal hold), including records
received before it that arrive late; an objection to model training keeps a subject's redacted
content out of aggregation (GDPR Art. 21).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.errors import InvalidArgument
from shared.ids import stable_id
from shared.policy import Policy

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)  # the timestamp of events that must not date anything


class RetentionError(InvalidArgument):
    """Base of the retention service's own rule violations."""


class RecordSchedule(Aggregate):
    """A record's retention schedule (id = the vault record id)."""

    @staticmethod
    def create_id(record_id: uuid.UUID, **_: object) -> uuid.UUID:
        """The record id is the aggregate id."""
        return record_id

    class ScheduleCreated(Aggregate.Created):
        """The schedule was created. v2 added ``generation``: the vault's key generation of the
        record. v3 carries no per-record time and no interaction id: ``stored_at``, ``due_at``
        and ``interaction_id`` are gone, since this log outlives an erasure. The collection time
        (hence the deadline) and the interaction id live only in the mutable schedule index
        (:mod:`services.retention.index`), filled from the vault's ``GetRecordFacts`` while the
        record's key lives and cleared when the record is erased.

        History stays as it is: v1 and v2 events keep their clear values in the stored log;
        read back they upcast to v3 (times and interaction id dropped, the index asks the vault).
        """

        class_version = 3
        record_id: uuid.UUID
        subject_ref: str
        category: str
        form: str
        rule: str
        state: str
        generation: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 -> v2: the record's generation is not known."""
            state["generation"] = 0

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """v2 -> v3: per-record times and the interaction id are not carried forward."""
            for name in ("stored_at", "due_at", "interaction_id"):
                state.pop(name, None)

        @staticmethod
        def create_timestamp() -> dt.datetime:
            """The epoch: the event's own timestamp would date the record's receipt."""
            return EPOCH

    @event(ScheduleCreated)
    def __init__(self, record_id: uuid.UUID, subject_ref: str, category: str, form: str,
                 rule: str, state: str, generation: int = 0) -> None:
        self.subject_ref = subject_ref
        self.generation = generation
        self.category = category
        self.form = form
        self.rule = rule
        self.state = state

    @event("DeadlineSet")
    def set_deadline(self, due_at: dt.datetime, cause: str) -> None:
        """Set the deadline once its triggering event (e.g. ticket resolution) happened."""

    class RecordExpired(Aggregate.Event):
        """The record expired. v2 adds ``purged``: True when the vault confirmed the purge before
        this event was recorded. v1 sweeps recorded expiry without knowing whether every chunk
        was purged, so a v1 event upcasts to ``purged=False`` and the next sweep purges again."""

        class_version = 2
        sweep_id: str
        swept_at: dt.datetime
        aggregated: bool
        purged: bool

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 -> v2: the purge of a v1 expiry is not known to have happened."""
            state["purged"] = False

    @event(RecordExpired)
    def expire(self, sweep_id: str, swept_at: dt.datetime, aggregated: bool,
               purged: bool = True) -> None:
        """The record expired at ``swept_at`` (UTC) in sweep ``sweep_id``; its ciphertext was
        purged in the vault first (``purged``)."""
        self.state = "expired"
        self.purged = purged

    @event("ExpiredRecordPurged")
    def confirm_purge(self, sweep_id: str) -> None:
        """The vault confirmed the purge of a record expired by a v1 sweep."""
        self.purged = True

    @event("ScheduleClosedByErasure")
    def close_for_erasure(self, request_id: str) -> None:
        """The subject was erased; nothing is left to expire."""
        self.state = "erased"


class LegalHold(Aggregate):
    """A legal hold naming a subject, a record or a category (id from the placing request id)."""

    @staticmethod
    def create_id(hold_id: str, **_: object) -> uuid.UUID:
        """Stable id from the hold id."""
        return stable_id("hold", hold_id)

    @staticmethod
    def check_target(subject_ref: str, record_id: str, category: str, reason: str,
                     policy: Policy) -> None:
        """Exactly one target and a reason of the policy; raises RetentionError otherwise."""
        if sum(bool(x) for x in (subject_ref, record_id, category)) != 1:
            raise RetentionError("a hold names exactly one subject, record or category",
                                 "HOLD_TARGET_INVALID")
        if reason not in policy.hold_reason_names():
            raise RetentionError("unknown hold reason", "HOLD_REASON_INVALID")

    @staticmethod
    def check_has_effect(reason: str, categories: Iterable[str], policy: Policy) -> None:
        """Refuse a hold that can keep nothing: its reason preserves none of ``categories`` (the
        target's live categories, or the named category). Raises RetentionError
        HOLD_HAS_NO_EFFECT."""
        rule = policy.hold_reason(reason)
        if not any(rule.preserves_category(c) or any(p.startswith(c + ".") for p in rule.preserves)
                   for c in categories):
            raise RetentionError("this hold's reason preserves none of its target's categories "
                                 "(see preserves under hold_reasons in the policy file)",
                                 "HOLD_HAS_NO_EFFECT")

    @event("HoldPlaced")
    def __init__(self, hold_id: str, subject_ref: str, record_id: str, category: str,
                 reason: str, reference: str, placed_at: dt.datetime) -> None:
        self.hold_id = hold_id
        self.subject_ref = subject_ref
        self.record_id = record_id
        self.category = category
        self.reason = reason
        self.active = True

    @event("HoldReleased")
    def release(self, released_at: dt.datetime) -> None:
        """Release the hold; the records it kept expire at the next sweep."""
        self.active = False


def hold_covers(hold: dict, schedule: dict) -> bool:
    """True when an active hold names the schedule's record, its subject or its category.

    ``hold`` has ``active``, ``record_id``, ``subject_ref``, ``category``; ``schedule`` has
    ``record_id``, ``subject_ref``, ``category`` (a hold on ``user`` covers ``user.contact``).
    """
    return bool(hold["active"]) and bool(
        (hold["record_id"] and hold["record_id"] == schedule["record_id"])
        or (hold["subject_ref"] and hold["subject_ref"] == schedule["subject_ref"])
        or (hold["category"] and (schedule["category"] == hold["category"]
                                  or schedule["category"].startswith(hold["category"] + "."))))


def holds_keeping(holds: Iterable[dict], schedule: dict, policy: Policy) -> list[dict]:
    """Every active hold that covers ``schedule`` and whose reason preserves its category,
    sorted by hold id: all of them count, never only the first (order-independent)."""
    return sorted((h for h in holds if hold_covers(h, schedule)
                   and policy.hold_reason(h["reason"]).preserves_category(schedule["category"])),
                  key=lambda h: h["hold_id"])


def names_target(hold: dict) -> bool:
    """True when the hold names a subject or a record: such a hold blocks erasure of what it
    preserves. A category-wide hold only extends retention (GDPR Art. 17(3) exempts named data)."""
    return bool(hold["subject_ref"] or hold["record_id"])


@dataclass(frozen=True)
class ErasureBlocker:
    """One hold that blocks part of a subject's erasure.

    ``legal_basis`` is the exemption it invokes (e.g. "GDPR Art. 17(3)(e); CCPA 1798.105(d)(8)");
    ``categories`` the subject's categories it preserves (sorted); ``records`` how many records.
    """

    hold_id: str
    reason: str
    legal_basis: str
    reference: str
    categories: tuple[str, ...]
    records: int


@dataclass(frozen=True)
class ErasureAnswer:
    """Retention's answer to "what blocks this erasure": ``blockers`` (by hold id),
    ``preserved_categories`` (their union, sorted) and ``erasable_categories`` (the subject's
    live categories no blocker preserves, sorted). ``blocked`` when any blocker exists."""

    blockers: tuple[ErasureBlocker, ...]
    preserved_categories: tuple[str, ...]
    erasable_categories: tuple[str, ...]

    @property
    def blocked(self) -> bool:
        """True when at least one hold blocks part of the erasure."""
        return bool(self.blockers)


def erasure_blockers(holds: Iterable[dict], schedules: Iterable[dict],
                     policy: Policy) -> ErasureAnswer:
    """What blocks the erasure of a subject whose live ``schedules`` are given: every active hold
    naming the subject or one of its records that preserves at least one of them, sorted by hold
    id. Category-wide holds are not blockers (they only extend retention)."""
    holds = [h for h in holds if h["active"] and names_target(h)]
    schedules = list(schedules)
    kept: dict[str, dict[str, int]] = {}
    for schedule in schedules:
        for hold in holds_keeping(holds, schedule, policy):
            by_category = kept.setdefault(hold["hold_id"], {})
            by_category[schedule["category"]] = by_category.get(schedule["category"], 0) + 1
    blockers = []
    for hold in sorted(holds, key=lambda h: h["hold_id"]):
        if hold["hold_id"] in kept:
            cats = kept[hold["hold_id"]]
            blockers.append(ErasureBlocker(
                hold_id=hold["hold_id"], reason=hold["reason"],
                legal_basis=policy.hold_reason(hold["reason"]).legal_basis,
                reference=hold.get("reference", ""), categories=tuple(sorted(cats)),
                records=sum(cats.values())))
    preserved = sorted({c for b in blockers for c in b.categories})
    erasable = sorted({s["category"] for s in schedules} - set(preserved))
    return ErasureAnswer(tuple(blockers), tuple(preserved), tuple(erasable))


class SubjectStatus(Aggregate):
    """What retention must remember about a subject: objections and erasures."""

    @staticmethod
    def create_id(subject_ref: str) -> uuid.UUID:
        """Stable id from the subject ref."""
        return stable_id("retention-subject", subject_ref)

    @event("SubjectNoted")
    def __init__(self, subject_ref: str) -> None:
        self.subject_ref = subject_ref
        self.objections: list[str] = []
        self.erasures: dict[str, str] = {}
        self.scopes: dict[str, ErasureScope] = {}

    @event("ObjectionNoted")
    def note_objection(self, subject_ref: str, purpose: str, request_id: str) -> None:
        """The subject objected to ``purpose`` (e.g. model-training)."""
        if purpose not in self.objections:
            self.objections.append(purpose)

    class SubjectForgotten(Aggregate.Event):
        """The vault shredded the subject. v2 adds the shred's scope: ``generation`` (generations
        up to it were shredded; 0 = every generation) and ``kept_categories`` (left under legal
        hold). v1 events were full erasures of every generation."""

        class_version = 2
        request_id: str
        erased_at: dt.datetime
        generation: int
        kept_categories: list[str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 -> v2: a full erasure of every generation."""
            state["generation"] = 0
            state["kept_categories"] = []

    @event(SubjectForgotten)
    def forget(self, request_id: str, erased_at: dt.datetime, generation: int = 0,
               kept_categories: list[str] | None = None) -> None:
        """The subject was erased at ``erased_at`` (request ``request_id``): generations up to
        ``generation`` (0: all), but for ``kept_categories``."""
        self.erasures[request_id] = erased_at.isoformat()
        self.scopes[request_id] = ErasureScope(generation, tuple(kept_categories or ()))

    def shredded(self, category: str, generation: int) -> bool:
        """True when a shred seen so far destroyed a record of ``category`` and key
        ``generation`` (> 0). A shred of unknown scope (generation 0, before scopes were recorded)
        covers only what it closed when it happened: the vault stores later data under a later
        generation, so no time is needed to tell them apart."""
        return generation > 0 and any(scope.generation and scope.covers(category, generation)
                                      for scope in self.scopes.values())

    def erasure_covering(self, category: str, generation: int) -> str:
        """The request id of the first erasure (any scope, 0 included) that covers a record of
        ``category`` and ``generation``, or "". Asked for a record the vault no longer has: an
        erasure covering it is what removed it."""
        return next((rid for rid, scope in sorted(self.scopes.items())
                     if scope.covers(category, generation)), "")


@dataclass(frozen=True)
class ErasureScope:
    """What one shred of a subject destroyed: key generations up to ``generation`` (0: all), but
    for the categories in ``kept`` (left under legal hold; a later shred destroys them)."""

    generation: int = 0
    kept: tuple[str, ...] = ()

    def covers(self, category: str, generation: int) -> bool:
        """True when the shred destroyed a record of ``category`` and key ``generation`` (0 =
        unknown, from before schedules recorded it: covered by any shred)."""
        if any(category == k or category.startswith(k + ".") for k in self.kept):
            return False
        return not self.generation or not generation or generation <= self.generation


class Sweep(Aggregate):
    """One retention sweep (id from its request id, so a retried sweep changes nothing)."""

    @staticmethod
    def create_id(sweep_id: str, **_: object) -> uuid.UUID:
        """Stable id from the sweep's request id."""
        return stable_id("sweep", sweep_id)

    @event("SweepCompleted")
    def __init__(self, sweep_id: str, at: dt.datetime, expired: int, held: int,
                 aggregated: int, excluded_by_objection: int) -> None:
        self.result = {"expired": expired, "held": held, "aggregated": aggregated,
                       "excluded_by_objection": excluded_by_objection}
