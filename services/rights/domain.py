"""Rights domain: the life of a data-subject request (DSAR) and its deadlines.

States: received -> identity verified -> in progress -> (extended) -> fulfilled | denied.
Deadlines (policy file): GDPR Art. 12(3) one month from receipt, extendable by two further months
with notice and reasons; CCPA (Cal. Civ. Code 1798.130) 45 days, extendable once by 45 days.
Requests always end (docs/design.md §4.7): an erasure that crashed half way resumes from its events.
"""

from __future__ import annotations

import datetime as dt
import uuid

from eventsourcing.domain import Aggregate, event

from shared.errors import FailedPrecondition, InvalidArgument
from shared.ids import stable_id

KINDS = ("access", "erasure", "objection")
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


class SubjectErasures(Aggregate):
    """What the rights service learnt from the vault's log about one subject's erasures.

    Written only by following the vault's log (the shred itself is the vault's fact): which
    requests' shreds the vault recorded, and whether the vault stored anything for the subject
    after the last one (then a new erasure needs a new shred).
    """

    @staticmethod
    def create_id(subject_ref: str, **_: object) -> uuid.UUID:
        """Stable id from the subject ref."""
        return stable_id("subject-erasures", subject_ref)

    @event("SubjectErasuresOpened")
    def __init__(self, subject_ref: str) -> None:
        self.subject_ref = subject_ref
        self.shred_requests: dict[str, int] = {}  # request id -> vault log position
        self.last_request_id = ""
        self.clean = False  # True while nothing was stored after the last shred

    @event("VaultShredSeen")
    def shred_seen(self, request_id: str, vault_position: int) -> None:
        """The vault recorded ``SubjectShredded`` for ``request_id`` at ``vault_position``."""
        self.shred_requests[request_id] = vault_position
        self.last_request_id = request_id
        self.clean = True

    @event("VaultStoreSeen")
    def store_seen(self, vault_position: int) -> None:
        """The vault stored a record of the subject after its last shred (first one only)."""
        self.clean = False


class Reveal(Aggregate):
    """A member of staff looked at a subject's data (the DPO console's reveal), with a reason."""

    @staticmethod
    def create_id(reveal_id: str, **_: object) -> uuid.UUID:
        """Stable id from the reveal's idempotency key."""
        return stable_id("reveal", reveal_id)

    @event("SubjectDataRevealed")
    def __init__(self, reveal_id: str, subject_ref: str, caller: str, reason: str,
                 records: int, revealed_at: dt.datetime) -> None:
        self.reveal_id = reveal_id
        self.subject_ref = subject_ref
        self.caller = caller
        self.reason = reason
        self.records = records
        self.revealed_at = revealed_at


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
        self.duplicate_of = ""
        self.shred_observed = False
        self.exports_deleted = False
        self.exports_files = 0
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

    # Logs written before erasures followed the vault's log hold these two events; they stay
    # readable (the vault's ``SubjectShredded`` is now the only record of the shred).
    @event("VaultShredCompleted")
    def record_shred(self, generation: int, records_purged: int, erased_at: dt.datetime,
                     notified_recipients: list[str]) -> None:
        """Legacy: rights restated the vault's shred (read-only, never recorded any more)."""
        self.shred_observed = True

    @event("SchedulesClosed")
    def record_schedules_closed(self, closed: int) -> None:
        """Legacy: rights restated retention's closing of schedules (read-only)."""

    @event("DuplicateRecognised")
    def recognise_duplicate(self, of_request_id: str) -> None:
        """Another erasure of the same subject is open: this request ends with its outcome."""
        self.duplicate_of = of_request_id

    @event("NothingNewToErase")
    def record_nothing_new(self, previous_request_id: str) -> None:
        """The vault stored nothing for the subject since ``previous_request_id``'s shred: no
        second shred is needed (the vault's log shows the earlier one)."""
        self.shred_observed = True

    @event("ExportsDeleted")
    def record_exports_deleted(self, files: int) -> None:
        """The subject's access exports under the exports folder were overwritten and deleted."""
        self.exports_deleted = True
        self.exports_files = files

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
