"""RightsService over gRPC: translates protos to application calls and back."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.rights.application import RequestView, RightsApplication
from shared.freetext import check_id, check_text
from shared.gen.lethe.v1 import rights_pb2 as pb
from shared.gen.lethe.v1 import rights_pb2_grpc
from shared.server import to_timestamp
from shared.tls import peer_identity

_KIND = {pb.REQUEST_KIND_ACCESS: "access", pb.REQUEST_KIND_ERASURE: "erasure",
         pb.REQUEST_KIND_OBJECTION: "objection"}
_KIND_PB = {v: k for k, v in _KIND.items()}
_STATE = {"received": pb.REQUEST_STATE_RECEIVED, "verified": pb.REQUEST_STATE_VERIFIED,
          "in_progress": pb.REQUEST_STATE_IN_PROGRESS, "extended": pb.REQUEST_STATE_EXTENDED,
          "fulfilled": pb.REQUEST_STATE_FULFILLED, "denied": pb.REQUEST_STATE_DENIED}


def to_proto(v: RequestView) -> pb.DataSubjectRequest:
    """A request view as a proto message."""
    m = pb.DataSubjectRequest(request_id=v.request_id, kind=_KIND_PB[v.kind], state=_STATE[v.state],
                              subject_ref=v.subject_ref, law=v.law,
                              received_at=to_timestamp(v.received_at), due_at=to_timestamp(v.due_at),
                              overdue=v.overdue(dt.datetime.now(dt.timezone.utc)), reason=v.reason,
                              purpose=v.purpose, duplicate_of=v.duplicate_of,
                              exports_deleted=v.exports_deleted,
                              preserved_categories=list(v.preserved_categories),
                              held_pending=v.held_pending, exemption=v.exemption,
                              log_positions=list(v.log_positions))
    if v.closed_at:
        m.closed_at.CopyFrom(to_timestamp(v.closed_at))
    return m


class RightsServicer(rights_pb2_grpc.RightsServiceServicer):
    """Thin gRPC adapter over :class:`RightsApplication`."""

    def __init__(self, app: RightsApplication) -> None:
        self.app = app

    def SubmitRequest(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        check_id("purpose", request.purpose)  # free text that lands in events: ids only
        view, export = self.app.submit(request.request_id, _KIND.get(request.kind, "unknown"),
                                       request.account_id, request.law, request.purpose)
        return pb.SubmitRequestResponse(request=to_proto(view), export_json=export)

    def GetRequest(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        return pb.GetRequestResponse(request=to_proto(self.app.get(request.request_id)))

    def ExtendRequest(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        check_text("reason", request.reason)  # lands in the extension event for good
        return pb.ExtendRequestResponse(request=to_proto(self.app.extend(request.request_id,
                                                                         request.reason)))

    def ListRequests(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        views, token, total, overdue = self.app.list_page(request.include_closed, request.page_size,
                                                          request.page_token)
        return pb.ListRequestsResponse(requests=[to_proto(v) for v in views], next_page_token=token,
                                       total_size=total, overdue_size=overdue)

    def DenyRequest(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        check_text("reason", request.reason)  # lands in the denial event for good
        view = self.app.deny_request(request.request_id, request.subject_request_id,
                                     request.exemption, request.reason,
                                     peer_identity(context) or "local")
        return pb.DenyRequestResponse(request=to_proto(view))

    def CompleteRequest(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        check_text("reason", request.reason)  # lands in the completion event for good
        view = self.app.complete_request(request.request_id, request.subject_request_id,
                                         request.reason, peer_identity(context) or "local")
        return pb.CompleteRequestResponse(request=to_proto(view))

    def ResolveSubject(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        return pb.ResolveSubjectResponse(subject_ref=self.app.resolve_subject(request.account_id))

    def RevealSubject(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        check_text("reason", request.reason)  # lands in the reveal event for good
        export = self.app.reveal(request.request_id, request.account_id,
                                 peer_identity(context) or "local", request.reason)
        return pb.RevealSubjectResponse(export_json=export)
