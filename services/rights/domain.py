"""Rights domain: the life of a data-subject request (DSAR) and its deadlines.

States: received -> identity verified -> in progress -> (extended) -> fulfilled | denied.
Deadlines (policy file): GDPR Art. 12(3) one month from receipt, extendable by two further months
with notice and reasons; CCPA (Cal. Civ. Code 1798.130) 45 days, extendable once by 45 days.
Requests always end (DESIGN.md §4.7): an erasure that crashed half way resumes from its events.
"""

from __future__ import annotations

import datetime as dt
import uuid

from eventsourcing.domain import Aggregate, event

from shared.errors import FailedPrecondition, InvalidArgument
from shared.ids import stable_id

KINDS = ("access", "erasure", "objection")
# The exemption that a legal hold's reason invokes against an erasure request.
HOLD_EXEMPTIONS = {
    "legal_obligation": "GDPR Art. 17(3)(b); CCPA 1798.105(d)(8)",
    "litigation": "GDPR Art. 17(3)(e); CCPA 1798.105(d)(8)",
    "security_investigation": "GDPR Art. 17(3)(e); CCPA 1798.105(d)(2)",
}
LAWS = ("gdpr", "ccpa")
OPEN_STATES = ("received", "verified", "in_progress", "extended")
PURPOSES = ("model-training",)


class RightsError(FailedPrecondition):
    """Base of the rights service's rule violations."""


def check_submission(kind: str, law: str, purpose: str) -> None:
    """Raise InvalidArgument on an unknown kind or law, or an objection without a known purpose."""
    if kind not in KINDS:
        raise InvalidArgument("unknown request kind", "KIND_INVALID")
    if law not in LAWS:
        raise InvalidArgument("law must be gdpr or ccpa", "LAW_INVALID")
    if kind == "objection" and purpose not in PURPOSES:
        raise InvalidArgument("objection purpose must be model-training", "PURPOSE_INVALID")


class DataSubjectRequest(Aggregate):
    """A data-subject request (id from the caller's idempotency key)."""

    @staticmethod
    def create_id(request_id: str, **_: object) -> uuid.UUID:
        """Stable id from the request id."""
        return stable_id("dsr", request_id)

    @event("RequestReceived")
    def __init__(self, request_id: str, kind: str, subject_ref: str, law: str,
                 received_at: dt.datetime, due_at: dt.datetime, purpose: str) -> None:
        self.request_id = request_id
        self.kind = kind
        self.subject_ref = subject_ref
        self.law = law
        self.received_at = received_at
        self.due_at = due_at
        self.purpose = purpose
        self.state = "received"
        self.closed_at: dt.datetime | None = None
        self.reason = ""
        self.shred: dict[str, object] | None = None
        self.schedules_closed = False
        self.extended = False

    def check_open(self) -> None:
        """Raise RightsError when the request already ended."""
        if self.state not in OPEN_STATES:
            raise RightsError("request already closed", "REQUEST_CLOSED")

    @event("IdentityVerified")
    def verify(self, method: str) -> None:
        """The requester was verified (GDPR Art. 12(6)); ``method`` says how."""
        self.state = "verified"

    @event("ProcessingStarted")
    def start(self) -> None:
        """Work across services has begun."""
        self.state = "in_progress"

    def check_can_extend(self) -> None:
        """Raise RightsError when closed or already extended (one extension per request)."""
        self.check_open()
        if self.extended:
            raise RightsError("the deadline was already extended", "ALREADY_EXTENDED")

    @event("DeadlineExtended")
    def extend(self, reason: str, new_due_at: dt.datetime, notice_sent_at: dt.datetime) -> None:
        """Extend once, with reasons and notice (GDPR Art. 12(3), CCPA 1798.130(a)(2))."""
        self.extended = True
        self.due_at = new_due_at
        self.reason = reason
        self.state = "extended"

    @event("VaultShredCompleted")
    def record_shred(self, generation: int, records_purged: int, erased_at: dt.datetime,
                     notified_recipients: list[str]) -> None:
        """The vault crypto-shredded the subject's key generation and notified recipients (Art. 19)."""
        self.shred = {"generation": generation, "records_purged": records_purged,
                      "erased_at": erased_at.isoformat(),
                      "notified_recipients": list(notified_recipients)}

    @event("SchedulesClosed")
    def record_schedules_closed(self, closed: int) -> None:
        """Retention closed the subject's schedules."""
        self.schedules_closed = True

    @event("AccessExportDelivered")
    def record_export(self, records: int, categories: list[str]) -> None:
        """An Art. 15/20 export with ``records`` records was delivered (content not recorded)."""

    @event("ObjectionRecorded")
    def record_objection(self, subject_ref: str, purpose: str, request_id: str) -> None:
        """The subject objected to ``purpose`` (GDPR Art. 21); retention follows this event."""

    @event("RequestFulfilled")
    def fulfil(self, closed_at: dt.datetime) -> None:
        """The request was carried out."""
        self.state = "fulfilled"
        self.closed_at = closed_at

    @event("RequestDenied")
    def deny(self, reason: str, exemption: str, closed_at: dt.datetime) -> None:
        """Refused, naming the exemption (e.g. GDPR Art. 17(3)(e) legal claims)."""
        self.state = "denied"
        self.reason = f"{reason} ({exemption})" if exemption else reason
        self.closed_at = closed_at
