"""Durable audit heads and certificate rotation, on PostgreSQL with real service processes.

A pod's data dir is an emptyDir: the test stops the deployment, rotates every certificate, wipes
each service's folder of the data dir (as a pod restart does) and starts again. The head history
lives in the services' PostgreSQL schemas, so the auditor's checkpoint from before the restart
still verifies incrementally (a lost history would be HISTORY_REWRITTEN or a head of size 0), the
old head is still served, and the published C2SP checkpoint verifies with the service's key. The
services still talk to each other (mTLS with the re-issued certificates).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from cryptography import x509

from cli.sample import generate
from shared.config import SERVICES
from shared.gen.lethe.v1 import events_pb2, events_pb2_grpc
from shared.keysource import FileKeySource
from shared.proofcheck import open_checkpoint, verifier_key
from shared.tls import secure_channel
from tests.conftest import _start, _stop


def _ingest(dep, tmp_path: Path, seed: int) -> None:
    path = tmp_path / f"in-{seed}.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in generate(3, 10, seed=seed)))
    assert dep.lethe_json("ingest", str(path), "--json")["rejected"] == 0


def _stub(dep, service: str):
    peers = json.loads((dep.data_dir / "deployment.json").read_text())["services"]
    channel = secure_channel(peers[service]["address"], FileKeySource(dep.key_dir), "auditor",
                             service)
    return events_pb2_grpc.EventLogServiceStub(channel)


def test_restart_with_wiped_data_dir_keeps_heads_and_rotated_certs_work(tmp_path_factory,
                                                                       tmp_path: Path) -> None:
    dep = _start(tmp_path_factory.mktemp("durable"), "postgres")
    try:
        _ingest(dep, tmp_path, 1)
        cp = tmp_path / "cp.json"
        first = dep.lethe_json("audit", "verify", "--json", "--checkpoint", str(cp))
        assert first["ok"], first["violations"]
        saved = json.loads(cp.read_text())
        saved = saved.get("services", saved)
        kept = {s: saved[s]["head"]["tree_size"] for s in SERVICES}
        serial = x509.load_pem_x509_certificate(
            (dep.key_dir / "tls" / "vault.pem").read_bytes()).serial_number
        dep.lethe("down")
        rotated = dep.lethe("certs", "rotate").stdout.decode()
        assert "re-issued 11 certificates" in rotated and "restart" in rotated
        for service in SERVICES:  # the emptyDir of each pod is gone
            shutil.rmtree(dep.data_dir / service, ignore_errors=True)
        dep.lethe("up")
        assert x509.load_pem_x509_certificate(
            (dep.key_dir / "tls" / "vault.pem").read_bytes()).serial_number != serial
        _ingest(dep, tmp_path, 2)  # ingestion -> anonymization -> vault over the new certificates
        second = dep.lethe_json("audit", "verify", "--json", "--checkpoint", str(cp))
        assert second["ok"], second["violations"]
        assert all(r["ok"] and r["from_checkpoint"] for r in second["integrity"].values())
        keys = FileKeySource(dep.key_dir)
        prefix = dep.env["LETHE_POSTGRES_SCHEMA_PREFIX"]
        for service in SERVICES:
            stub = _stub(dep, service)
            old = stub.GetSignedTreeHead(events_pb2.GetSignedTreeHeadRequest(
                tree_size=kept[service]), timeout=30)
            assert old.head.tree_size == kept[service]
            resp = stub.GetCheckpoint(events_pb2.GetCheckpointRequest(), timeout=30)
            assert resp.origin == f"lethe.local/{prefix}/{service}"
            pub = bytes.fromhex(keys.get(f"audit/{service}.pub").decode().strip())
            note = open_checkpoint(resp.note, verifier_key(resp.origin, pub))
            assert note.size >= kept[service]
    finally:
        _stop(dep)
