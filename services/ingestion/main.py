"""Ingestion service process: ``python -m services.ingestion.main [--data-dir D] [--key-dir K]``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc

from services.ingestion.application import IngestionApplication
from services.ingestion.deidentify import DownstreamRefused, VaultRecordIn
from services.ingestion.servicer import IngestionServicer
from services.ingestion.worker import DeidentificationWorker
from shared.clients import DEFAULT_TIMEOUT_S, Peers
from shared.config import Settings, setting
from shared.gen.lethe.v1 import (
    anonymization_pb2,
    anonymization_pb2_grpc,
    ingestion_pb2,
    ingestion_pb2_grpc,
    vault_pb2,
    vault_pb2_grpc,
)
from shared.keysource import FileKeySource
from shared.server import run_service, to_timestamp


class GrpcPipeline:
    """The ingest pipeline's downstream calls over gRPC (vault, anonymization)."""

    def __init__(self, peers: Peers, operator: str) -> None:
        self.peers = peers
        self.operator = (anonymization_pb2.OPERATOR_PSEUDONYM if operator == "pseudonym"
                         else anonymization_pb2.OPERATOR_PLACEHOLDER)

    def _call(self, service: str, stub_class: type, method: str, request: Any,
              timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        """Raises Unavailable (down or slow) or DownstreamRefused (refused for good)."""
        try:
            return self.peers.call(service, stub_class, method, request, timeout)
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
                raise DownstreamRefused(f"{service.upper()}_REFUSED") from None
            raise

    def open_sessions(self, items: list[tuple[str, str, dt.datetime]]) -> list[tuple[str, bytes] | None]:  # noqa: D102
        resp = self._call("vault", vault_pb2_grpc.VaultServiceStub, "OpenSessions",
                          vault_pb2.OpenSessionsRequest(sessions=[
                              vault_pb2.SessionKey(subject_ref=r, session_hint=h,
                                                   received_at=to_timestamp(t))
                              for r, h, t in items]), DEFAULT_TIMEOUT_S)
        return [(s.session_id, s.pseudonym_key) if s.session_id else None for s in resp.sessions]

    def anonymize(self, texts: list[str], keys: list[bytes]) -> list[tuple[str, list[str]]]:  # noqa: D102
        items = [anonymization_pb2.TextItem(text=t, pseudonym_key=k) for t, k in zip(texts, keys, strict=True)]
        resp = self._call("anonymization", anonymization_pb2_grpc.AnonymizationServiceStub,
                          "AnonymizeBatch", anonymization_pb2.AnonymizeBatchRequest(
                              items=items, operator=self.operator), 120)
        return [(r.text, [e.type for e in r.entities]) for r in resp.results]

    def store(self, records: list[VaultRecordIn]) -> list[str]:  # noqa: D102
        resp = self._call("vault", vault_pb2_grpc.VaultServiceStub, "Store", vault_pb2.StoreRequest(
            records=[vault_pb2.RecordInput(
                record_id=r.record_id, subject_ref=r.subject_ref, category=r.category, form=r.form,
                region=r.region, content=r.content, received_at=to_timestamp(r.received_at),
                interaction_id=r.interaction_id,
                occurred_at=to_timestamp(r.occurred_at) if r.occurred_at else None)
                for r in records]), DEFAULT_TIMEOUT_S)
        names = {vault_pb2.STORE_OUTCOME_STORED: "stored", vault_pb2.STORE_OUTCOME_DUPLICATE: "duplicate",
                 vault_pb2.STORE_OUTCOME_ERASED: "erased"}
        return [names[o] for o in resp.outcomes]


def build(settings: Settings, keys: FileKeySource) -> tuple[Any, Any, Any]:
    """Wire ingestion: application with the gRPC pipeline, its de-identification worker (which
    resumes what an earlier run left queued), and servicer."""
    peers = Peers(settings, keys, "ingestion")
    operator = setting("LETHE_REDACTION_OPERATOR")
    app = IngestionApplication(settings, keys, GrpcPipeline(peers, operator))
    worker = DeidentificationWorker(app).start()

    def register(server: Any) -> list[str]:
        ingestion_pb2_grpc.add_IngestionServiceServicer_to_server(IngestionServicer(app), server)
        return [ingestion_pb2.DESCRIPTOR.services_by_name["IngestionService"].full_name]

    def stop() -> None:
        worker.stop()
        peers.close()

    return app, register, stop


if __name__ == "__main__":
    run_service("ingestion", build)
