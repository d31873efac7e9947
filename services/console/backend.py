"""The console's calls to the services, as the ``console`` identity (mutual TLS, deadlines).

Every action is the same RPC the CLI uses, so it leaves the same events. Errors reach pages as
:class:`BackendError` with the gRPC code and the service's message (which never holds personal data).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import grpc

from shared import audit as audit_mod
from shared.clients import Peers
from shared.config import SERVICES, Settings
from shared.errors import Unavailable
from shared.gen.lethe.v1 import (
    events_pb2,
    events_pb2_grpc,
    retention_pb2,
    retention_pb2_grpc,
    rights_pb2,
    rights_pb2_grpc,
    vault_pb2,
    vault_pb2_grpc,
)
from shared.ids import stable_id
from shared.keysource import FileKeySource

TIMEOUT_S = 30.0
UTC = dt.timezone.utc
PAGE_SIZE = 50  # requests per page of the queue
LOG_WINDOW = 500  # events per page of a log read from its end


class BackendError(Exception):
    """A refused or failed call: ``code`` (gRPC status name) and a message without personal data."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def _call(fn: Any, request: Any, timeout: float = TIMEOUT_S) -> Any:
    try:
        return fn(request, timeout=timeout)
    except grpc.RpcError as exc:
        raise BackendError(exc.code().name, exc.details() or "") from None
    except Unavailable as exc:
        raise BackendError("UNAVAILABLE", str(exc)) from None


def request_dict(r: Any) -> dict[str, Any]:
    """A DataSubjectRequest as the pages show it (days left counted from now)."""
    due = r.due_at.ToDatetime(tzinfo=UTC)
    return {"request_id": r.request_id,
            "kind": rights_pb2.RequestKind.Name(r.kind).removeprefix("REQUEST_KIND_").lower(),
            "state": rights_pb2.RequestState.Name(r.state).removeprefix("REQUEST_STATE_").lower(),
            "subject_ref": r.subject_ref, "law": r.law,
            "received_at": r.received_at.ToDatetime(tzinfo=UTC), "due_at": due,
            "closed_at": r.closed_at.ToDatetime(tzinfo=UTC) if r.HasField("closed_at") else None,
            "days_left": (due - dt.datetime.now(UTC)).days, "overdue": r.overdue,
            "reason": r.reason, "purpose": r.purpose, "duplicate_of": r.duplicate_of,
            "exemption": r.exemption}


class Backend:
    """Stubs on the deployment's services, as ``console``."""

    def __init__(self, settings: Settings, keys: FileKeySource) -> None:
        self.settings, self.keys = settings, keys
        self.peers = Peers(settings, keys, "console")
        self.rights = rights_pb2_grpc.RightsServiceStub(self.peers.channel("rights"))
        self.retention = retention_pb2_grpc.RetentionServiceStub(self.peers.channel("retention"))
        self.vault = vault_pb2_grpc.VaultServiceStub(self.peers.channel("vault"))

    def logs(self, service: str) -> Any:
        """The EventLogService stub of ``service``."""
        return events_pb2_grpc.EventLogServiceStub(self.peers.channel(service))

    # requests
    def list_requests(self, include_closed: bool, page_token: str = "",
                      page_size: int = PAGE_SIZE) -> dict[str, Any]:
        """One page of requests, overdue first (the rights service's order): ``rows``, ``next``
        (token of the next page, "" on the last), ``total`` and ``overdue`` (all pages)."""
        resp = _call(self.rights.ListRequests, rights_pb2.ListRequestsRequest(
            include_closed=include_closed, page_size=page_size, page_token=page_token))
        return {"rows": [request_dict(r) for r in resp.requests], "next": resp.next_page_token,
                "total": resp.total_size, "overdue": resp.overdue_size}

    def get_request(self, request_id: str) -> dict[str, Any]:
        """One request."""
        return request_dict(_call(self.rights.GetRequest,
                                  rights_pb2.GetRequestRequest(request_id=request_id)).request)

    def extend(self, request_id: str, reason: str) -> dict[str, Any]:
        """Extend once; the rights service enforces the law's limits."""
        return request_dict(_call(self.rights.ExtendRequest, rights_pb2.ExtendRequestRequest(
            request_id=request_id, reason=reason)).request)

    def deny(self, request_id: str, exemption: str, reason: str) -> dict[str, Any]:
        """Deny citing an exemption of the policy; the rights service checks law, kind and state.
        The action id derives from the decision, so a form sent twice is one denial."""
        action = str(stable_id("console-deny", request_id, exemption, reason))
        return request_dict(_call(self.rights.DenyRequest, rights_pb2.DenyRequestRequest(
            request_id=action, subject_request_id=request_id, exemption=exemption,
            reason=reason)).request)

    def complete(self, request_id: str, reason: str) -> dict[str, Any]:
        """Mark an access or objection request done, with what was done (one per decision)."""
        action = str(stable_id("console-complete", request_id, reason))
        return request_dict(_call(self.rights.CompleteRequest, rights_pb2.CompleteRequestRequest(
            request_id=action, subject_request_id=request_id, reason=reason)).request)

    def evidence(self, request_id: str) -> dict[str, Any]:
        """The request's events with inclusion proofs (``lethe.audit-proof/v1``, checked offline)."""
        from services.console.evidence import request_evidence
        try:
            return request_evidence(self, request_id)
        except grpc.RpcError as exc:
            raise BackendError(exc.code().name, exc.details() or "") from None
        except LookupError as exc:
            raise BackendError("NOT_FOUND", str(exc)) from None

    # subjects
    def resolve(self, account_id: str) -> str:
        """The account's subject_ref."""
        return _call(self.rights.ResolveSubject,
                     rights_pb2.ResolveSubjectRequest(account_id=account_id)).subject_ref

    def reveal(self, account_id: str, reason: str) -> dict[str, Any]:
        """The subject's data; the rights service records the reveal with its reason first."""
        resp = _call(self.rights.RevealSubject, rights_pb2.RevealSubjectRequest(
            request_id=str(uuid.uuid4()), account_id=account_id, reason=reason), timeout=120)
        return json.loads(resp.export_json)

    def log_size(self, service: str) -> int:
        """How many events one service's log holds."""
        return _call(self.logs(service).GetLogInfo, events_pb2.GetLogInfoRequest()).size

    def read_log_after(self, service: str, after: int, limit: int) -> list[Any]:
        """At most ``limit`` events of one log after position ``after``, as audit entries."""
        stream = self.logs(service).ReadEvents(events_pb2.ReadEventsRequest(
            after_position=after, limit=limit), timeout=TIMEOUT_S)
        try:
            return [audit_mod.entry_of(service, r.event) for r in stream]
        except grpc.RpcError as exc:
            raise BackendError(exc.code().name, exc.details() or "") from None

    def read_log_page(self, service: str, upto: int = 0,
                      window: int = LOG_WINDOW) -> tuple[list[Any], int]:
        """The last ``window`` events of one log up to position ``upto`` (0: its end), as audit
        entries in log order, and the ``upto`` of the page before them (0: none): at most
        ``window`` events are read, whatever the log's size."""
        size = _call(self.logs(service).GetLogInfo, events_pb2.GetLogInfoRequest()).size
        end = min(upto, size) if upto > 0 else size
        start = max(0, end - window)
        stream = self.logs(service).ReadEvents(events_pb2.ReadEventsRequest(
            after_position=start, limit=end - start), timeout=TIMEOUT_S)
        try:
            entries = [audit_mod.entry_of(service, r.event) for r in stream] if end > start else []
        except grpc.RpcError as exc:
            raise BackendError(exc.code().name, exc.details() or "") from None
        return entries, start

    # holds and recipients
    def holds(self, include_released: bool = True) -> list[Any]:
        """Legal holds, oldest first."""
        return list(_call(self.retention.ListHolds,
                          retention_pb2.ListHoldsRequest(include_released=include_released)).holds)

    def place_hold(self, reason: str, scope: str, target: str, reference: str) -> str:
        """Place a hold on an account, a record or a category; returns its id."""
        field = {"account": "subject_ref", "record": "record_id", "category": "category"}[scope]
        if scope == "account":  # holds name subjects by ref; the account id goes no further
            target = self.resolve(target)
        return _call(self.retention.PlaceHold, retention_pb2.PlaceHoldRequest(
            request_id=str(uuid.uuid4()), reason=reason, reference=reference,
            target=retention_pb2.HoldTarget(**{field: target}))).hold_id

    def release_hold(self, hold_id: str) -> None:
        """Release a hold."""
        _call(self.retention.ReleaseHold, retention_pb2.ReleaseHoldRequest(
            hold_id=hold_id, request_id=str(uuid.uuid4())))

    def recipients(self) -> list[Any]:
        """The recipient registry."""
        return list(_call(self.vault.ListRecipients, vault_pb2.ListRecipientsRequest()).recipients)

    def heads(self) -> dict[str, dict[str, Any]]:
        """Each service's latest signed tree head."""
        out = {}
        for service in SERVICES:
            head = _call(self.logs(service).GetSignedTreeHead, events_pb2.GetSignedTreeHeadRequest()).head
            out[service] = {**audit_mod.head_dict(head),
                            "time": dt.datetime.fromtimestamp(head.timestamp_ms / 1000, UTC)}
        return out

    def close(self) -> None:
        """Close the channels."""
        self.peers.close()
