"""Retention service process: ``python -m services.retention.main [--data-dir D] [--key-dir K]``.

Follows the vault's log (schedules) and the rights log (objections); calls the vault for records'
collection times (``GetRecordFacts``), to read redacted content and purge, and anonymization to
aggregate, at each sweep.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import grpc

from services.retention.application import RetentionApplication
from services.retention.servicer import RetentionServicer
from shared.clients import DEFAULT_TIMEOUT_S, Peers
from shared.config import Settings
from shared.errors import Unavailable
from shared.follower import Follower
from shared.gen.lethe.v1 import (
    anonymization_pb2,
    anonymization_pb2_grpc,
    retention_pb2,
    retention_pb2_grpc,
    vault_pb2,
    vault_pb2_grpc,
)
from shared.keysource import FileKeySource
from shared.server import run_service


def build(settings: Settings, keys: FileKeySource) -> tuple[Any, Any, Any]:
    """Wire retention: application with its vault/anonymization adapters, followers, sweeper."""
    peers = Peers(settings, keys, "retention")

    def read_redacted(ids: list[str]) -> list[tuple[str, str]]:
        vault = peers.stub("vault", vault_pb2_grpc.VaultServiceStub)
        out = []
        for i in range(0, len(ids), 1000):
            resp = vault.Read(vault_pb2.ReadRequest(record_ids=ids[i:i + 1000],
                                                    purpose="aggregation"), timeout=DEFAULT_TIMEOUT_S)
            for r in resp.records:
                entry = app.index.schedule(r.record_id)
                if entry is not None:
                    out.append((entry["subject_ref"], r.content.decode("utf-8")))
        return out

    def aggregate(inputs: list[tuple[str, str]], request_id: str) -> int:
        stub = peers.stub("anonymization", anonymization_pb2_grpc.AnonymizationServiceStub)
        resp = stub.Aggregate(anonymization_pb2.AggregateRequest(
            request_id=request_id, inputs=[anonymization_pb2.AggregateInput(text=t, subject_ref=s)
                                         for s, t in inputs]), timeout=120)
        return int(resp.texts_used)

    def purge(ids: list[str], request_id: str) -> int:
        vault = peers.stub("vault", vault_pb2_grpc.VaultServiceStub)
        return vault.Purge(vault_pb2.PurgeRequest(request_id=request_id, record_ids=ids,
                                                  reason="retention_expired"),
                           timeout=DEFAULT_TIMEOUT_S).purged

    def record_facts(ids: list[str]) -> dict[str, tuple[dt.datetime, str]]:
        vault = peers.stub("vault", vault_pb2_grpc.VaultServiceStub)
        try:
            resp = vault.GetRecordFacts(vault_pb2.GetRecordFactsRequest(record_ids=ids),
                                        timeout=DEFAULT_TIMEOUT_S)
        except grpc.RpcError:
            raise Unavailable("the vault cannot answer record facts; retry later") from None
        utc = dt.timezone.utc
        return {f.record_id: (f.collected_at.ToDatetime(tzinfo=utc), f.interaction_id)
                for f in resp.facts}

    app = RetentionApplication(settings, keys, read_redacted, aggregate, purge, record_facts)
    def fill_facts(_: object) -> None:
        try:
            app.fill_facts()  # the new schedules' collection times, while the vault is up
        except Unavailable:
            pass  # asked again after the next batch and before every sweep

    followers = [Follower(app, "vault", lambda: peers.channel("vault"), app.on_vault_event,
                          on_saved=fill_facts),
                 Follower(app, "rights", lambda: peers.channel("rights"), app.on_rights_event)]
    for f in followers:
        f.start()

    def catch_up() -> None:
        try:
            for f in followers:
                while f.poll_once():
                    pass
        except grpc.RpcError:
            raise Unavailable("an upstream log cannot be read; retry later") from None

    app.catch_up = catch_up
    stopping = threading.Event()
    if settings.sweep_interval_s > 0:
        def sweeper() -> None:
            while not stopping.wait(settings.sweep_interval_s):
                try:
                    app.sweep()
                except Exception:  # noqa: BLE001 - retried at the next interval
                    pass
        threading.Thread(target=sweeper, daemon=True, name="sweeper").start()

    def register(server: Any) -> list[str]:
        retention_pb2_grpc.add_RetentionServiceServicer_to_server(RetentionServicer(app), server)
        return [retention_pb2.DESCRIPTOR.services_by_name["RetentionService"].full_name]

    def stop() -> None:
        stopping.set()
        for f in followers:
            f.stop()
        peers.close()

    return app, register, stop


if __name__ == "__main__":
    run_service("retention", build)
