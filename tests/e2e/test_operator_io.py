"""Against the real services: batch limits end to end, ingest's exit status, private export files,
and free-text fields that refuse personal data."""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from faker import Faker

from shared import limits
from shared.clients import Peers
from shared.config import load_settings
from shared.gen.lethe.v1 import ingestion_pb2, ingestion_pb2_grpc
from shared.keysource import FileKeySource
from tests.conftest import Deployment

pytestmark = pytest.mark.e2e


def _line(n: int, tag: str, **overrides: Any) -> dict[str, Any]:
    base = {"account_id": f"acct-io-{tag}-{n % 40:03d}", "session_hint": f"conv-{n % 7}",
            "client_ip": "203.0.113.9", "user_agent": "Mozilla/5.0 Firefox/120.0", "region": "EU",
            "timestamp": "2026-11-01T10:00:00Z", "kind": "interaction",
            "prompt": f"How do I repot a fern, question {n}?", "response": f"Gently, answer {n}."}
    base.update(overrides)
    return base


def _ingest_stub(dep: Deployment) -> tuple[Any, Peers]:
    env = {k: v for k, v in dep.env.items()}
    os.environ.update(env)
    settings = load_settings(dep.data_dir, dep.key_dir)
    keys = FileKeySource(settings.key_dir)
    identity = "client" if keys.exists("tls/client.pem") else "operator"
    peers = Peers(settings, keys, identity)
    return ingestion_pb2_grpc.IngestionServiceStub(peers.channel("ingestion")), peers


def _interaction(n: int, tag: str) -> ingestion_pb2.Interaction:
    line = _line(n, tag)
    item = ingestion_pb2.Interaction(sequence=n, account_id=line["account_id"],
                                     session_hint=line["session_hint"], client_ip=line["client_ip"],
                                     user_agent=line["user_agent"], region="EU", kind="interaction",
                                     prompt=line["prompt"], response=line["response"])
    item.occurred_at.FromJsonString(line["timestamp"])
    return item


def test_ingest_of_exactly_the_documented_batch_limit_succeeds(sqlite_deployment: Deployment) -> None:
    stub, peers = _ingest_stub(sqlite_deployment)
    try:
        tag = uuid.uuid4().hex[:6]
        batch = [_interaction(n, tag) for n in range(limits.MAX_BATCH_ITEMS)]
        resp = stub.Ingest(ingestion_pb2.IngestRequest(  # through the whole pipeline before answering
            request_id=str(uuid.uuid4()), interactions=batch,
            acknowledge=ingestion_pb2.ACKNOWLEDGE_DEIDENTIFIED), timeout=600)
        assert len(resp.results) == limits.MAX_BATCH_ITEMS
        assert {r.outcome for r in resp.results} == {ingestion_pb2.INGEST_OUTCOME_STORED}
        with pytest.raises(grpc.RpcError) as caught:
            stub.Ingest(ingestion_pb2.IngestRequest(request_id=str(uuid.uuid4()),
                                                    interactions=[*batch, _interaction(5000, tag)]),
                        timeout=120)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "BATCH_TOO_LARGE" in caught.value.details() or "at most" in caught.value.details()
    finally:
        peers.close()


def test_ingest_exits_1_when_some_lines_were_rejected_and_ingests_the_rest(sqlite_deployment: Deployment,
                                                                          tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    rows = [json.dumps(_line(1, tag)), "{not json", json.dumps(_line(3, tag, prompt="  ")),
            json.dumps(_line(4, tag))]
    path = tmp_path / "some-bad.jsonl"
    path.write_text("\n".join(rows) + "\n")
    proc = sqlite_deployment.lethe("ingest", str(path), check=False)
    assert proc.returncode == 1
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert "stored 2" in out and "rejected 2" in out
    assert "2 of 4 lines rejected" in err
    as_json = sqlite_deployment.lethe("ingest", str(path), "--json", check=False)
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["duplicate"] == 2
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(_line(9, tag)) + "\n")
    assert sqlite_deployment.lethe("ingest", str(good), check=False).returncode == 0


def test_access_export_replaces_a_world_readable_file_and_refuses_a_symlink(
        sqlite_deployment: Deployment, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(_line(1, tag)) + "\n")
    sqlite_deployment.lethe("ingest", str(path))
    account = _line(1, tag)["account_id"]
    out = tmp_path / "export.json"
    out.write_text("stale")
    os.chmod(out, 0o644)
    sqlite_deployment.lethe("rights", "access", account, "--out", str(out))
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert json.loads(out.read_text())["interactions"]
    target = tmp_path / "precious.txt"
    target.write_text("precious")
    os.chmod(target, 0o644)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    proc = sqlite_deployment.lethe("rights", "access", account, "--out", str(link), check=False)
    assert proc.returncode == 1 and "symlink" in proc.stderr.decode()
    assert link.is_symlink() and target.read_text() == "precious"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644


def test_free_text_with_generated_personal_data_is_refused_and_never_recorded(
        sqlite_deployment: Deployment) -> None:
    fake = Faker()
    fake.seed_instance(11)
    name, email, phone = fake.name(), fake.email(), fake.phone_number()
    before = sqlite_deployment.lethe("audit", "replay", "--json", check=False).stdout
    attempts = [
        ("retention", "hold", "place", "--reason", "security_investigation", "--category",
         "system.operations", "--reference", f"complaint by {name}, {email}, {phone}"),
        ("rights", "extend", str(uuid.uuid4()), "--reason", f"complaint by {name}, {email}"),
        ("recipients", "register", "acme-io", "--category", "infrastructure", "--region", "EU",
         "--name", f"{name} {phone}"),
        ("disclose", "--recipient", "analytics-eu", "--purpose", email),
    ]
    for args in attempts:
        proc = sqlite_deployment.lethe(*args, check=False)
        err = proc.stderr.decode()
        assert proc.returncode == 1, args
        assert "INVALID_ARGUMENT" in err and ("FREE_TEXT" in err or "personal data" in err), err
        for value in (name, email, phone):
            assert value not in err
    after = sqlite_deployment.lethe("audit", "replay", "--json", check=False).stdout
    for value in (name, email, phone):
        assert value.encode() not in after
    assert len(after) >= len(before)
