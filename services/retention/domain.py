"""Retention domain: schedules from the policy table, legal holds, subjects' objections and erasures.

Rules: a record expires at the deadline its policy rule sets (DESIGN.md §3); a legal hold naming
the record, its subject or its category keeps it until released (§4.5); an erased subject's
schedules close, including records received before the erasure that arrive late; an objection to
model training keeps a subject's redacted content out of aggregation (GDPR Art. 21).
"""

from __future__ import annotations

import datetime as dt
import uuid

from eventsourcing.domain import Aggregate, event

from shared.errors import InvalidArgument
from shared.ids import stable_id
from shared.policy import HOLD_REASONS


class RetentionError(InvalidArgument):
    """Base of the retention service's own rule violations."""


class RecordSchedule(Aggregate):
    """A record's retention schedule (id = the vault record id)."""

    @staticmethod
    def create_id(record_id: uuid.UUID, **_: object) -> uuid.UUID:
        """The record id is the aggregate id."""
        return record_id

    @event("ScheduleCreated")
    def __init__(self, record_id: uuid.UUID, subject_ref: str, category: str, form: str,
                 rule: str, interaction_id: str, stored_at: dt.datetime,
                 due_at: dt.datetime | None, state: str) -> None:
        self.subject_ref = subject_ref
        self.category = category
        self.form = form
        self.rule = rule
        self.interaction_id = interaction_id
        self.stored_at = stored_at
        self.due_at = due_at
        self.state = state

    @event("DeadlineSet")
    def set_deadline(self, due_at: dt.datetime, cause: str) -> None:
        """Set the deadline once its triggering event (e.g. ticket resolution) happened."""
        self.due_at = due_at

    @event("RecordExpired")
    def expire(self, sweep_id: str, swept_at: dt.datetime, aggregated: bool) -> None:
        """The record's ciphertext was purged by a sweep."""
        self.state = "expired"

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
    def check_target(subject_ref: str, record_id: str, category: str, reason: str) -> None:
        """Exactly one target and a known reason; raises RetentionError otherwise."""
        if sum(bool(x) for x in (subject_ref, record_id, category)) != 1:
            raise RetentionError("a hold names exactly one subject, record or category",
                                 "HOLD_TARGET_INVALID")
        if reason not in HOLD_REASONS:
            raise RetentionError("unknown hold reason", "HOLD_REASON_INVALID")

    @event("HoldPlaced")
    def __init__(self, hold_id: str, subject_ref: str, record_id: str, category: str,
                 reason: str, reference: str, placed_at: dt.datetime) -> None:
        self.check_target(subject_ref, record_id, category, reason)
        self.hold_id = hold_id
        self.subject_ref = subject_ref
        self.record_id = record_id
        self.category = category
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

    @event("ObjectionNoted")
    def note_objection(self, subject_ref: str, purpose: str, request_id: str) -> None:
        """The subject objected to ``purpose`` (e.g. model-training)."""
        if purpose not in self.objections:
            self.objections.append(purpose)

    @event("SubjectForgotten")
    def forget(self, request_id: str, erased_at: dt.datetime) -> None:
        """The subject was erased at ``erased_at`` (request ``request_id``)."""
        self.erasures[request_id] = erased_at.isoformat()

    def erased_after(self, received_at: dt.datetime) -> bool:
        """True when an erasure covers data received at ``received_at``."""
        return any(received_at < dt.datetime.fromisoformat(t) for t in self.erasures.values())


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
