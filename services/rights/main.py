"""Rights service process: ``python -m services.rights.main [--data-dir D] [--key-dir K]``.

A worker thread carries open erasures forward (at start-up, on each new erasure, and every few
seconds while any is waiting for a downstream service); it reads the vault's log (tracked,
exactly once) to learn that a shred happened, and retention's log to learn that a hold was released
(the held part of a partial erasure).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from services.rights.application import RightsApplication
from services.rights.servicer import RightsServicer
from shared.clients import DEFAULT_TIMEOUT_S, Peers
from shared.config import Settings
from shared.gen.lethe.v1 import (
    retention_pb2,
    retention_pb2_grpc,
    rights_pb2,
    rights_pb2_grpc,
    vault_pb2,
    vault_pb2_grpc,
)
from shared.keysource import FileKeySource
from shared.server import run_service
from shared.telemetry import gauge


class GrpcDownstream:
    """The rights service's calls to the vault and retention over gRPC."""

    def __init__(self, peers: Peers) -> None:
        self.peers = peers

    def _call(self, service: str, stub_class: type, method: str, request: Any,
              timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        return self.peers.call(service, stub_class, method, request, timeout)

    def export_subject(self, subject_ref: str, request_id: str) -> list[dict[str, Any]]:  # noqa: D102
        resp = self._call("vault", vault_pb2_grpc.VaultServiceStub, "ExportSubject",
                          vault_pb2.ExportSubjectRequest(subject_ref=subject_ref, request_id=request_id))
        utc = dt.timezone.utc
        return [{"record_id": r.record_id, "interaction_id": r.interaction_id,
                 "category": r.category, "form": r.form, "region": r.region, "content": r.content,
                 "received_at": r.received_at.ToDatetime(tzinfo=utc),
                 "stored_at": r.stored_at.ToDatetime(tzinfo=utc)} for r in resp.records]

    def shred_subject(self, subject_ref: str, request_id: str, keep: tuple[str, ...] = (),  # noqa: D102
                      through_generation: int = 0) -> None:
        self._call("vault", vault_pb2_grpc.VaultServiceStub, "ShredSubject",
                   vault_pb2.ShredSubjectRequest(subject_ref=subject_ref, request_id=request_id,
                                                 keep_categories=list(keep),
                                                 through_generation=through_generation))

    def erasure_blockers(self, subject_ref: str) -> dict[str, Any]:  # noqa: D102
        resp = self._call("retention", retention_pb2_grpc.RetentionServiceStub,
                          "ListErasureBlockers",
                          retention_pb2.ListErasureBlockersRequest(subject_ref=subject_ref))
        return {"blockers": [{"hold_id": b.hold_id, "reason": b.reason, "legal_basis": b.legal_basis,
                              "reference": b.reference, "categories": list(b.categories),
                              "records": b.records} for b in resp.blockers],
                "preserved": list(resp.preserved_categories),
                "erasable": list(resp.erasable_categories)}

    def list_schedules(self, subject_ref: str) -> list[dict[str, Any]]:  # noqa: D102
        resp = self._call("retention", retention_pb2_grpc.RetentionServiceStub, "ListSchedules",
                          retention_pb2.ListSchedulesRequest(subject_ref=subject_ref))
        utc = dt.timezone.utc
        return [{"record_id": s.record_id, "category": s.category, "purposes": list(s.purposes),
                 "stored_at": s.stored_at.ToDatetime(tzinfo=utc),
                 "due_at": s.due_at.ToDatetime(tzinfo=utc) if s.HasField("due_at") else None,
                 "state": s.state, "rule": s.rule, "hold_reason": s.hold_reason,
                 "hold_names_subject": s.hold_names_subject}
                for s in resp.schedules]


def build(settings: Settings, keys: FileKeySource) -> tuple[Any, Any, Any]:
    """Wire rights: application, erasure worker, servicer."""
    peers = Peers(settings, keys, "rights")
    app = RightsApplication(settings, keys, GrpcDownstream(peers), lambda: peers.channel("vault"),
                            lambda: peers.channel("retention"))
    wake, stopping = threading.Event(), threading.Event()
    app.on_erasure_submitted = wake.set
    # From the projection: one request loaded per reading, not every open one.
    gauge("lethe.requests.open", "Open data-subject requests", lambda: app.list_page(False, 1)[2])
    gauge("lethe.requests.overdue", "Data-subject requests open past their deadline",
          lambda: app.list_page(False, 1)[3])

    def worker() -> None:
        while not stopping.is_set():
            wake.clear()
            try:
                app.resume()
            except Exception:  # noqa: BLE001 - retried at the next wake-up
                pass
            wake.wait(2.0)

    threading.Thread(target=worker, daemon=True, name="erasure-worker").start()

    def register(server: Any) -> list[str]:
        rights_pb2_grpc.add_RightsServiceServicer_to_server(RightsServicer(app), server)
        return [rights_pb2.DESCRIPTOR.services_by_name["RightsService"].full_name]

    def stop() -> None:
        stopping.set()
        wake.set()
        peers.close()

    return app, register, stop


if __name__ == "__main__":
    run_service("rights", build)
