"""RetentionService over gRPC: translates protos to application calls and back."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.retention.application import RetentionApplication
from shared.errors import PermissionDenied
from shared.freetext import check_id
from shared.gen.lethe.v1 import retention_pb2, retention_pb2_grpc
from shared.prototime import from_timestamp
from shared.scopes import may_sweep_ahead
from shared.server import to_timestamp
from shared.tls import peer_identity


def _opt_time(ts: Any, present: bool, name: str = "timestamp") -> dt.datetime | None:
    return from_timestamp(ts, name) if present else None


class RetentionServicer(retention_pb2_grpc.RetentionServiceServicer):
    """Thin gRPC adapter over :class:`RetentionApplication`."""

    def __init__(self, app: RetentionApplication) -> None:
        self.app = app

    def ListSchedules(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        out = []
        for e in self.app.list_schedules(request.subject_ref):
            schedule = retention_pb2.Schedule(
                record_id=e["record_id"], category=e["category"], purposes=e["purposes"],
                state=e["state"], rule=e["rule"],
                hold_reason=e["hold_reason"], hold_names_subject=e["hold_names_subject"],
                hold_reasons=e["hold_reasons"])
            if e["stored_at"]:  # none once the record is erased
                schedule.stored_at.CopyFrom(to_timestamp(e["stored_at"]))
            if e["due_at"]:
                schedule.due_at.CopyFrom(to_timestamp(e["due_at"]))
            out.append(schedule)
        return retention_pb2.ListSchedulesResponse(schedules=out)

    def Sweep(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        at = _opt_time(request.at, request.HasField("at"), "at")
        if at and at > dt.datetime.now(dt.timezone.utc) and not may_sweep_ahead(peer_identity(context)):
            raise PermissionDenied("this caller may not sweep as of a later time", "SWEEP_AT_IN_FUTURE")
        result = self.app.sweep(at, request.request_id)
        return retention_pb2.SweepResponse(**result)

    def PlaceHold(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        check_id("reference", request.reference)  # lands in the HoldPlaced event for good
        t = request.target
        hold_id = self.app.place_hold(request.request_id, t.subject_ref, t.record_id, t.category,
                                      request.reason, request.reference)
        return retention_pb2.PlaceHoldResponse(hold_id=hold_id)

    def ReleaseHold(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        return retention_pb2.ReleaseHoldResponse(released=self.app.release_hold(request.hold_id))

    def ListHolds(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        return retention_pb2.ListHoldsResponse(holds=[retention_pb2.Hold(
            hold_id=h["hold_id"], reason=h["reason"], reference=h["reference"], active=h["active"],
            legal_basis=h["legal_basis"], preserves=h["preserves"],
            placed_at=to_timestamp(dt.datetime.fromisoformat(str(h["placed_at"]))),
            target=retention_pb2.HoldTarget(subject_ref=h["subject_ref"], record_id=h["record_id"],
                                            category=h["category"]))
            for h in self.app.list_holds(request.include_released)])

    def ResolveTicket(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        count = self.app.resolve_ticket(request.interaction_id,
                                        _opt_time(request.resolved_at, request.HasField("resolved_at"),
                                                  "resolved_at"))
        return retention_pb2.ResolveTicketResponse(scheduled=count)

    def ForgetSubject(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        erased_at = _opt_time(request.erased_at, request.HasField("erased_at"), "erased_at")
        closed = self.app.forget_subject(request.subject_ref, request.request_id,
                                         erased_at or dt.datetime.now(dt.timezone.utc))
        return retention_pb2.ForgetSubjectResponse(closed=closed)

    def ListErasureBlockers(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        answer = self.app.erasure_blockers(request.subject_ref)
        return retention_pb2.ListErasureBlockersResponse(
            blockers=[retention_pb2.ErasureBlocker(
                hold_id=b.hold_id, reason=b.reason, legal_basis=b.legal_basis,
                reference=b.reference, categories=b.categories, records=b.records)
                for b in answer.blockers],
            preserved_categories=answer.preserved_categories,
            erasable_categories=answer.erasable_categories)
