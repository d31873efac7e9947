"""The request queue: receive a request, extend its deadline, and staff's deny and complete.

Deadlines come from the policy (GDPR Art. 12(3), CCPA 1798.130). Staff close requests that the
service cannot close itself: :meth:`RequestQueue.deny_request` cites an exemption of the policy's
closed vocabulary (:mod:`services.rights.exemptions`) with a reason, and
:meth:`RequestQueue.complete_request` marks done a request whose work happened out of band (an
access request answered by other means, an objection honoured). Both are idempotent by their
action id (AIP-155): a retry returns the request as the first call left it.

Listing reads a projection (due date and state of every request, kept by the application), so a
page of the queue loads only the requests it shows.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import TYPE_CHECKING, Any

from services.rights.domain import OPEN_STATES, DataSubjectRequest, check_submission
from services.rights.exemptions import Exemption, find
from services.rights.views import RequestView, now, view
from shared.errors import FailedPrecondition, InvalidArgument, NotFound, require

MAX_PAGE_SIZE = 1000


def _check_action(action_id: str, reason: str) -> None:
    require(0 < len(action_id) <= 128, "request_id must be 1..128 characters", "REQUEST_ID_INVALID")
    require(0 < len(reason.strip()) and len(reason) <= 500, "reason must be 1..500 characters",
            "REASON_INVALID")


def _token(key: tuple[bool, dt.datetime, str]) -> str:
    return base64.urlsafe_b64encode(f"{int(key[0])}|{key[1].isoformat()}|{key[2]}".encode()).decode()


def _after(token: str) -> tuple[bool, dt.datetime, str]:
    try:
        late, due, rid = base64.urlsafe_b64decode(token.encode()).decode().split("|", 2)
        return bool(int(late)), dt.datetime.fromisoformat(due), rid
    except (ValueError, UnicodeError):
        raise InvalidArgument("page_token is not one this service issued", "PAGE_TOKEN_INVALID") from None


class RequestQueue:
    """The queue's use cases (a mixin of the rights application)."""

    lock: Any
    policy: Any
    exemptions: dict[str, Exemption]
    erasing: dict[str, str]
    due: dict[str, tuple[dt.datetime, str]]  # aggregate id -> (due_at, request id): projection
    open_ids: set[str]  # aggregate ids of open requests: projection
    positions: dict[str, list[int]]  # aggregate id -> log positions of its events: projection
    on_erasure_submitted: Any

    if TYPE_CHECKING:  # provided by the application and the other mixins
        def save(self, *aggregates: Any) -> Any:  # noqa: D102
            ...

        def _get(self, request_id: str) -> DataSubjectRequest:
            ...

        def resolve_subject(self, account_id: str) -> str:  # noqa: D102
            ...

        def _access(self, request: DataSubjectRequest, account_id: str) -> tuple[RequestView, bytes]:
            ...

        def _erasures(self, subject_ref: str) -> Any:
            ...

    def submit(self, request_id: str, kind: str, account_id: str, law: str = "gdpr",
               purpose: str = "") -> tuple[RequestView, bytes]:
        """Receive a request; returns its view and, for access, the export JSON (UTF-8 bytes).

        Idempotent by ``request_id``. The caller (the operator's front end) has verified the
        requester's identity; that is recorded as the verification method.
        Raises InvalidArgument on bad input; Unavailable when a downstream service is down
        (the request stays open and a retry continues it).
        """
        require(0 < len(request_id) <= 128, "request_id must be 1..128 characters",
                "REQUEST_ID_INVALID")
        require(0 < len(account_id) <= 256, "account_id is missing or too long",
                "ACCOUNT_ID_INVALID")
        law = law or "gdpr"
        check_submission(kind, law, purpose)
        ref = self.resolve_subject(account_id)
        with self.lock:
            try:
                request = self._get(request_id)
            except NotFound:
                received = now()
                request = DataSubjectRequest(
                    request_id=request_id, kind=kind, subject_ref=ref, law=law, received_at=received,
                    due_at=self.policy.request_due(law, received), purpose=purpose)
                request.verify(method="operator_attested")
                request.start()
                open_one = self.erasing.get(ref) if kind == "erasure" else None
                if open_one:  # one subject, one open erasure (docs/design.md §4.8)
                    request.recognise_duplicate(of_request_id=open_one)
                self.save(request)
            if request.subject_ref != ref or request.kind != kind:
                raise FailedPrecondition("request_id already used for another request",
                                         "REQUEST_ID_REUSED")
        if kind == "access":
            return self._access(request, account_id)
        if kind == "objection":
            return self._objection(request), b""
        self.on_erasure_submitted()
        return view(request), b""

    def _objection(self, request: DataSubjectRequest) -> RequestView:
        with self.lock:
            request = self._get(request.request_id)
            if request.state in OPEN_STATES:
                request.record_objection(subject_ref=request.subject_ref, purpose=request.purpose,
                                         request_id=request.request_id)
                request.fulfil(closed_at=now())
                self.save(request)
            return view(request)

    def extend(self, request_id: str, reason: str) -> RequestView:
        """Extend an open request's deadline once (GDPR Art. 12(3): +2 months; CCPA: +45 days).

        The notice to the requester is recorded with the extension. Raises InvalidArgument without
        a reason, NotFound for an unknown request, FailedPrecondition when closed or already extended.
        """
        require(0 < len(reason) <= 500, "reason must be 1..500 characters", "REASON_INVALID")
        with self.lock:
            request = self._get(request_id)
            request.check_can_extend()
            request.extend(reason=reason,
                           new_due_at=self.policy.request_due(request.law, request.received_at, True),
                           notice_sent_at=now())
            self.save(request)
            return view(request)

    def deny_request(self, action_id: str, request_id: str, exemption: str, reason: str,
                     caller: str) -> RequestView:
        """Deny an open request citing ``exemption`` (a key of the policy's vocabulary) and a reason.

        Records ``RequestDenied`` (v2: exemption key and reference, reason, caller, action id); the
        request leaves the queue. An erasure can be denied only before its shred was ordered.
        Raises InvalidArgument (bad id, empty reason, unknown exemption, or one of another law or
        kind), NotFound, FailedPrecondition (``REQUEST_CLOSED``, ``ERASURE_UNDER_WAY``).
        """
        _check_action(action_id, reason)
        entry = find(self.exemptions, exemption)
        with self.lock:
            request = self._get(request_id)
            if request.state == "denied" and request.closed_by_action == action_id:
                return view(request)  # a retry of this denial
            erasures = self._erasures(request.subject_ref) if request.kind == "erasure" else None
            request.check_can_deny(entry.law, entry.kinds,
                                   erasures is not None and request_id in erasures.shred_requests)
            request.deny(reason=reason, exemption=entry.reference, closed_at=now(),
                         exemption_key=entry.key, denied_by=caller, action_id=action_id)
            self.save(request)
            return view(request)

    def complete_request(self, action_id: str, request_id: str, reason: str,
                         caller: str) -> RequestView:
        """Mark an open access or objection request done, with a reason (work done out of band).

        An objection is honoured as the service would have (``ObjectionRecorded``, which retention
        follows). Raises InvalidArgument (bad id, empty reason), NotFound, FailedPrecondition
        (``REQUEST_CLOSED``; ``ERASURE_COMPLETES_BY_SHRED`` for an erasure).
        """
        _check_action(action_id, reason)
        with self.lock:
            request = self._get(request_id)
            if request.state == "fulfilled" and request.closed_by_action == action_id:
                return view(request)  # a retry of this completion
            request.check_can_complete()
            if request.kind == "objection":
                request.record_objection(subject_ref=request.subject_ref, purpose=request.purpose,
                                         request_id=request.request_id)
            request.fulfil(closed_at=now(), reason=reason, completed_by=caller, action_id=action_id)
            self.save(request)
            return view(request)

    def get(self, request_id: str) -> RequestView:
        """A request's view with its events' positions in this service's log; raises NotFound."""
        with self.lock:
            request = self._get(request_id)
            return view(request, tuple(self.positions.get(str(request.id), ())))

    def list(self, include_closed: bool = False) -> list[RequestView]:
        """Requests, overdue first, then by deadline (every one: see :meth:`list_page`)."""
        return self.list_page(include_closed)[0]

    def list_page(self, include_closed: bool = False, page_size: int = 0,
                  page_token: str = "") -> tuple[list[RequestView], str, int, int]:
        """One page of requests, overdue first, then by deadline and id (AIP-158).

        ``page_size`` 0 means every request, else at most ``min(page_size, MAX_PAGE_SIZE)``;
        ``page_token`` is the ``next_page_token`` of the previous page. Returns the views, the
        next token ("" on the last page), how many requests match and how many are overdue.
        Orders from the projection and loads only the page's requests.
        """
        require(page_size >= 0, "page_size must not be negative", "PAGE_SIZE_INVALID")
        at = now()
        with self.lock:
            keys = sorted((not (a in self.open_ids and at > due), due, rid)
                          for a, (due, rid) in self.due.items()
                          if include_closed or a in self.open_ids)
            total, overdue = len(keys), sum(1 for k in keys if not k[0])
            if page_token:
                start = _after(page_token)
                keys = [k for k in keys if k > start]
            size = min(page_size, MAX_PAGE_SIZE) if page_size else len(keys)
            page = keys[:size]
            views = [view(self._get(k[2])) for k in page]
        token = _token(page[-1]) if page and len(keys) > size else ""
        return views, token, total, overdue
