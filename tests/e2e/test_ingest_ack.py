"""Ingest acknowledges once durable: tried with SIGKILLs, an erasure while items wait, and someone
holding the pepper, on a real deployment (five service processes).

* SIGKILL of ingestion with acknowledged items queued (anonymization down, so the worker cannot
  finish them), and at random moments while the worker drains more than one batch: after the
  restart every acknowledged interaction is in the vault exactly once (``audit replay`` counts,
  access exports) and ``audit verify`` passes.
* An account erased while its interactions wait in the queue: none of them is readable afterwards
  (access export empty), the other account's are all there, and nothing in ingestion's files or
  log lets the pepper confirm their content (the old pepper-derived ids are found nowhere).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from cli.deployment import connect
from shared.config import load_settings
from shared.crypto import keyed_digest
from shared.gen.lethe.v1 import ingestion_pb2 as pb
from shared.gen.lethe.v1 import ingestion_pb2_grpc
from shared.ids import stable_id
from shared.keysource import FileKeySource
from tests.conftest import Deployment
from tests.e2e.test_kill_recovery import Cluster, _wait_for_erasures

pytestmark = pytest.mark.e2e
WHEN = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=10)


def interactions(account: str, n: int, tag: str) -> list[pb.Interaction]:
    out = []
    for i in range(n):
        m = pb.Interaction(account_id=account, session_hint=f"conv-{i % 4}", client_ip="198.51.100.9",
                           region="EU", kind="interaction", prompt=f"{tag} {i}: mail bob.{i}@example.net",
                           response=f"noted {i}", sequence=i)
        m.occurred_at.FromDatetime(WHEN)
        out.append(m)
    return out


def ingest(dep: Deployment, items: list[pb.Interaction],
           acknowledge: int = pb.ACKNOWLEDGE_DURABLE) -> list[pb.IngestResult]:
    _, _, peers = connect(dep.data_dir, dep.key_dir, "client")
    try:
        stub = ingestion_pb2_grpc.IngestionServiceStub(peers.channel("ingestion"))
        results = []
        for start in range(0, len(items), 500):
            results += stub.Ingest(pb.IngestRequest(interactions=items[start:start + 500],
                                                    acknowledge=acknowledge), timeout=120).results
        return results
    finally:
        peers.close()


def queued(dep: Deployment) -> int:
    db = sqlite3.connect(f"file:{dep.data_dir / 'ingestion' / 'pending.db'}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
    finally:
        db.close()


def wait_drained(dep: Deployment, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while queued(dep) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert queued(dep) == 0, "the queue did not drain"


def export_count(dep: Deployment, account: str, tmp_path: Path) -> list[str]:
    out = tmp_path / f"export-{account}.json"
    dep.lethe("rights", "access", account, "--out", str(out))
    prompts = [i["content"]["prompt"] for i in json.loads(out.read_text())["interactions"]]
    out.unlink()
    return prompts


def logged(dep: Deployment) -> dict[tuple[str, str], list[dict]]:
    by: dict[tuple[str, str], list[dict]] = {}
    for e in dep.lethe_json("audit", "replay", "--json"):
        by.setdefault((e["service"], e["event"]), []).append(e)
    return by


def test_sigkill_between_acknowledgement_and_deidentification_loses_and_doubles_nothing(
        sqlite_deployment: Deployment, tmp_path: Path) -> None:
    dep, cluster, rng = sqlite_deployment, Cluster(sqlite_deployment), random.Random(14)
    accepted: set[str] = set()
    # 1. Acknowledged, then the process dies before the worker could finish anything.
    cluster.kill("anonymization")
    results = ingest(dep, interactions("acct-ack-1", 150, "queued"))
    assert {r.outcome for r in results} == {pb.INGEST_OUTCOME_ACCEPTED}
    accepted |= {r.interaction_id for r in results}
    assert queued(dep) == 150
    cluster.kill("ingestion")
    cluster.start("ingestion")
    assert queued(dep) == 150
    cluster.start("anonymization")
    wait_drained(dep)
    # 2. SIGKILL at random moments while the worker drains several batches.
    for round_ in range(4):
        results = ingest(dep, interactions(f"acct-ack-{round_ + 2}", 200, f"round {round_}"))
        assert {r.outcome for r in results} == {pb.INGEST_OUTCOME_ACCEPTED}
        accepted |= {r.interaction_id for r in results}
        time.sleep(rng.uniform(0, 2.0))
        cluster.kill("ingestion")
        cluster.start("ingestion")
    wait_drained(dep)
    # Retries after everything: duplicates, nothing new.
    again = ingest(dep, interactions("acct-ack-1", 150, "queued"))
    assert {r.outcome for r in again} == {pb.INGEST_OUTCOME_DUPLICATE}

    by = logged(dep)
    ingested = Counter(e["id"] for e in by[("ingestion", "InteractionIngested")])
    assert set(ingested) == accepted and set(ingested.values()) == {1}
    stored = Counter(e["id"] for e in by[("vault", "RecordStored")])
    assert len(stored) == 3 * len(accepted) and set(stored.values()) == {1}
    assert set(stored) == {r for e in by[("ingestion", "InteractionIngested")]
                           for r in e["attributes"]["record_ids"]}
    assert len(set(export_count(dep, "acct-ack-1", tmp_path))) == 150
    assert len(set(export_count(dep, "acct-ack-3", tmp_path))) == 200
    verify = dep.lethe("audit", "verify", "--json", check=False)
    assert verify.returncode == 0, verify.stdout.decode()[-2000:]
    cluster.close()


def test_an_account_erased_while_its_interactions_wait_keeps_none_of_them(
        sqlite_deployment: Deployment, tmp_path: Path) -> None:
    dep, cluster = sqlite_deployment, Cluster(sqlite_deployment)
    cluster.kill("anonymization")  # the worker cannot de-identify: everything waits
    erased, kept = interactions("acct-gone", 80, "secret"), interactions("acct-stays", 80, "kept")
    assert {r.outcome for r in ingest(dep, erased + kept)} == {pb.INGEST_OUTCOME_ACCEPTED}
    assert queued(dep) == 160
    dep.lethe("rights", "erase", "acct-gone")
    assert all(r["state"] == "fulfilled" for r in _wait_for_erasures(dep))
    cluster.start("anonymization")
    wait_drained(dep)
    assert export_count(dep, "acct-gone", tmp_path) == []
    assert len(set(export_count(dep, "acct-stays", tmp_path))) == 80

    # Whoever holds the pepper guesses the erased content: the old ids are found nowhere.
    pepper = FileKeySource(dep.key_dir).get("pepper")
    guesses: set[str] = set()
    for m in erased:
        when = m.occurred_at.ToDatetime(tzinfo=dt.timezone.utc).isoformat()
        digest = keyed_digest(pepper, "interaction", m.account_id, m.session_hint, when, m.kind,
                              m.prompt, m.response, m.contact)
        iid = stable_id("interaction", digest)
        guesses |= {digest, str(iid), iid.hex}
    text = json.dumps(dep.lethe_json("audit", "replay", "--json"))
    assert not [g for g in guesses if g in text]
    ingestion_dir = load_settings(dep.data_dir, dep.key_dir).service_dir("ingestion")
    for path in Path(ingestion_dir).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [g for g in guesses if g.encode() in data], path.name
            assert b"secret " not in data and b"bob." not in data, path.name
    verify = dep.lethe("audit", "verify", "--json", check=False)
    assert verify.returncode == 0, verify.stdout.decode()[-2000:]
    cluster.close()
