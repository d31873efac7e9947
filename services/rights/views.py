"""What the rights service's use cases return and what they call downstream.

:class:`RequestView` is a request as callers see it; :class:`Downstream` the calls the rights
service makes to the vault and retention (gRPC in production, a fake in unit tests).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from services.rights.domain import OPEN_STATES, DataSubjectRequest


def now() -> dt.datetime:
    """The current time (UTC)."""
    return dt.datetime.now(dt.timezone.utc)


class Downstream(Protocol):
    """Calls the rights service makes (gRPC in production)."""

    def export_subject(self, subject_ref: str, request_id: str) -> list[dict[str, Any]]:
        """Decrypted records: record_id, interaction_id, category, form, region, received_at,
        stored_at, content (bytes)."""

    def shred_subject(self, subject_ref: str, request_id: str, keep: tuple[str, ...] = (),
                      through_generation: int = 0) -> None:
        """Ask the vault to crypto-shred the subject but the ``keep`` categories (up to
        ``through_generation`` when > 0); the outcome is read from the vault's log."""

    def erasure_blockers(self, subject_ref: str) -> dict[str, Any]:
        """Retention's answer: ``blockers`` (dicts: hold_id, reason, legal_basis, reference,
        categories, records), ``preserved`` and ``erasable`` (category lists)."""

    def list_schedules(self, subject_ref: str) -> list[dict[str, Any]]:
        """Schedules: record_id, category, purposes, stored_at, due_at, state, rule, hold_reason."""


@dataclass(frozen=True)
class RequestView:
    """What callers see of a request."""

    request_id: str
    kind: str
    state: str
    subject_ref: str
    law: str
    received_at: dt.datetime
    due_at: dt.datetime
    closed_at: dt.datetime | None
    reason: str
    purpose: str
    duplicate_of: str = ""
    exports_deleted: int = 0
    preserved_categories: tuple[str, ...] = ()  # kept under legal hold (a partial erasure)
    held_pending: bool = False  # the preserved part is still waiting for its holds' release
    exemption: str = ""  # key of the exemption a denial cited (policy's request_exemptions)
    log_positions: tuple[int, ...] = ()  # positions of its events in the rights log (get only)

    def overdue(self, at: dt.datetime) -> bool:
        """True when still open after its deadline."""
        return self.state in OPEN_STATES and at > self.due_at


def view(r: DataSubjectRequest, log_positions: tuple[int, ...] = ()) -> RequestView:
    """The view of a request aggregate (with its events' log positions when given)."""
    return RequestView(r.request_id, r.kind, r.state, r.subject_ref, r.law, r.received_at,
                       r.due_at, r.closed_at, r.reason, r.purpose, r.duplicate_of, r.exports_files,
                       tuple(r.preserved_categories), r.held_pending,
                       getattr(r, "exemption_key", ""), log_positions)
