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


def _derived_id(request_id: str, step: str) -> str:
    """``<request_id>:<step>``, or a uuid5 of both when that would pass 128 characters."""
    derived = f"{request_id}:{step}"
    return derived if len(derived) <= 128 else f"{stable_id(step, request_id)}:{step}"


def final_shred_id(request_id: str) -> str:
    """The request id of an erasure's closing shred (sent once the first shred was seen, so that
    whatever arrived meanwhile is covered; destroys nothing when nothing arrived)."""
    return _derived_id(request_id, "final")


def held_shred_id(request_id: str) -> str:
    """The request id of the shred of a partial erasure's held part, once its holds are released."""
    return _derived_id(request_id, "held")


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
        self.shreds: dict[str, dict[str, object]] = {}  # request id -> generation, erased_at, kept
        self.last_request_id = ""
        self.clean = False  # True while nothing was stored after the last full shred

    class VaultShredSeen(Aggregate.Event):
        """The vault recorded ``SubjectShredded`` for ``request_id`` at ``vault_position``.

        v2 adds what the vault's event says: ``generation``, ``erased_at`` (ISO 8601, the cut-off:
        anything received before it is covered) and ``kept_categories`` (a partial shred).
        """

        class_version = 2
        request_id: str
        vault_position: int
        generation: int
        erased_at: str
        kept_categories: list[str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """v1 (before partial erasure) recorded full shreds only, without their cut-off."""
            state.update(generation=0, erased_at="", kept_categories=[])

    @event(VaultShredSeen)
    def shred_seen(self, request_id: str, vault_position: int, generation: int, erased_at: str,
                   kept_categories: list[str]) -> None:
        """Note the vault's shred; a partial one leaves the subject not clean (data is kept)."""
        self.shred_requests[request_id] = vault_position
        self.shreds[request_id] = {"generation": generation, "erased_at": erased_at,
                                   "kept_categories": list(kept_categories)}
        self.last_request_id = request_id
        self.clean = not kept_categories

    def cutoff(self, request_id: str) -> dt.datetime | None:
        """When the vault's shred for ``request_id`` took effect (None when unknown)."""
        erased_at = str(self.shreds.get(request_id, {}).get("erased_at") or "")
        return dt.datetime.fromisoformat(erased_at) if erased_at else None

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
        self.preserved_categories: list[str] = []  # kept under legal hold by a partial erasure
        self.held_pending = False  # the held part waits for its holds' release
        self.blocking_holds: list[str] = []  # hold ids whose release the held part waits for
        self.recheck = False  # a hold was released since the last look at the blockers
        self.shred_ordered = False  # the vault was (or is about to be) asked to shred
        self.exemption_key = ""  # the exemption a member of staff's denial cited
        self.closed_by_action = ""  # idempotency key of the staff action (deny, complete) that closed it

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

    @event("ErasurePartial")
    def record_partial(self, preserved_categories: list[str], erasable_categories: list[str],
                       hold_ids: list[str], exemptions: list[str]) -> None:
        """Legal holds preserve some of the subject's categories (GDPR Art. 17(3), CCPA
        1798.105(d)): the others are shredded now, the preserved ones once the holds are released.
        The request then ends fulfilled with this as its reason."""
        self.preserved_categories = list(preserved_categories)
        self.blocking_holds = list(hold_ids)
        self.held_pending = True
        self.reason = (f"partially fulfilled: {', '.join(preserved_categories)} kept under legal "
                       f"hold ({'; '.join(exemptions)}) until released, then erased")

    @event("HoldReleaseSeen")
    def note_hold_released(self, retention_position: int, hold_id: str) -> None:
        """Retention's log shows that blocking hold ``hold_id`` was released; once the last one
        is, ask retention again what blocks the held part."""
        self.blocking_holds = [h for h in self.blocking_holds if h != hold_id]
        self.recheck = not self.blocking_holds

    @event("HeldPartStillBlocked")
    def record_still_blocked(self, preserved_categories: list[str], hold_ids: list[str]) -> None:
        """Holds (``hold_ids``) still preserve these categories; wait for their release."""
        self.blocking_holds = list(hold_ids)
        self.recheck = False

    @event("HeldPartErased")
    def record_held_erased(self, shred_request_id: str) -> None:
        """The vault shredded the held part (``shred_request_id``): nothing of the erasure is kept."""
        self.held_pending = False
        self.recheck = False

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

    @event("ErasureShredOrdered")
    def order_shred(self) -> None:
        """Durable intent, recorded before the vault is first asked to shred: from here on the
        erasure can no longer be denied (the vault may already have destroyed the key)."""
        self.shred_ordered = True

    def check_can_deny(self, exemption_law: str, exemption_kinds: tuple[str, ...],
                       shred_seen: bool) -> None:
        """Raise unless a member of staff may deny this request citing an exemption of
        ``exemption_law`` for ``exemption_kinds``: open, the exemption of its own law and kind,
        and, for an erasure, no shred ordered or seen yet (``shred_seen``: the vault's log)."""
        self.check_open()
        if exemption_law != self.law or self.kind not in exemption_kinds:
            raise InvalidArgument("the exemption does not apply to this request's law and kind",
                                  "EXEMPTION_NOT_APPLICABLE")
        if self.kind == "erasure" and (self.shred_ordered or self.shred_observed or shred_seen
                                       or self.held_pending or self.duplicate_of):
            raise RightsError("the erasure is already under way; it can no longer be denied",
                              "ERASURE_UNDER_WAY")

    def check_can_complete(self) -> None:
        """Raise unless a member of staff may mark this request done: open, and not an erasure
        (an erasure ends only by the vault's shred, which its process waits for)."""
        self.check_open()
        if self.kind == "erasure":
            raise RightsError("an erasure is completed by its shred, not by hand",
                              "ERASURE_COMPLETES_BY_SHRED")

    class RequestFulfilled(Aggregate.Event):
        """The request was carried out. v2 adds what a member of staff's completion records:
        ``reason`` (no personal data), ``completed_by`` (caller identity) and ``action_id`` (the
        completion's idempotency key); all empty when the service itself fulfilled it."""

        class_version = 2
        closed_at: dt.datetime
        reason: str
        completed_by: str
        action_id: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """v1: fulfilled by the service."""
            state.update(reason="", completed_by="", action_id="")

    @event(RequestFulfilled)
    def fulfil(self, closed_at: dt.datetime, reason: str = "", completed_by: str = "",
               action_id: str = "") -> None:
        """The request was carried out (by the service, or marked done by staff with a reason)."""
        self.state = "fulfilled"
        self.closed_at = closed_at
        if reason:
            self.reason = reason
        self.closed_by_action = action_id

    class RequestDenied(Aggregate.Event):
        """Refused, naming the exemption. v2 adds a member of staff's denial: ``exemption_key``
        (the policy's ``request_exemptions`` key), ``denied_by`` (caller identity) and
        ``action_id`` (the denial's idempotency key); empty for the service's own denials."""

        class_version = 2
        reason: str
        exemption: str
        closed_at: dt.datetime
        exemption_key: str
        denied_by: str
        action_id: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """v1: denied by the service (legal holds, duplicates)."""
            state.update(exemption_key="", denied_by="", action_id="")

    @event(RequestDenied)
    def deny(self, reason: str, exemption: str, closed_at: dt.datetime, exemption_key: str = "",
             denied_by: str = "", action_id: str = "") -> None:
        """Refused, naming the exemption (e.g. GDPR Art. 17(3)(e) legal claims)."""
        self.state = "denied"
        self.reason = f"{reason} ({exemption})" if exemption else reason
        self.closed_at = closed_at
        self.exemption_key = exemption_key
        self.closed_by_action = action_id
