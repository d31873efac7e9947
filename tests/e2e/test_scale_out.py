"""Scale-out on PostgreSQL: two replicas of ingestion, anonymization, vault and retention at once.

Each second replica runs like a second pod: its own data dir (logs, transparency files), the same
PostgreSQL schemas, key source and certificates, peers given by LETHE_<SERVICE>_ADDRESS. Two
clients ingest overlapping files through different replicas at the same time; afterwards every
unique interaction is recorded exactly once in every log. Two sweeps at the same moment on the
two retention replicas: one expires everything due, the other nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.sample import generate
from tests.conftest import REPO, Deployment, _start, _stop

SECOND = ("anonymization", "vault", "ingestion", "retention")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, dict[str, str]]]:
    root = tmp_path_factory.mktemp("scale")
    dep = _start(root, "postgres")
    first = {n: s["address"] for n, s in
             json.loads((dep.data_dir / "deployment.json").read_text())["services"].items()}
    second = {n: f"127.0.0.1:{_port()}" for n in SECOND}
    peers = {**first, **second}
    env = {**os.environ, **dep.env, "LETHE_KEY_DIR": str(dep.key_dir),
           **{f"LETHE_{n.upper()}_ADDRESS": a for n, a in peers.items()}}
    procs = []
    for name in SECOND:
        data = root / f"replica-{name}"
        (data / "logs").mkdir(parents=True)
        with open(data / "logs" / f"{name}.log", "ab") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", f"services.{name}.main", "--data-dir", str(data),
                 "--key-dir", str(dep.key_dir), "--address", second[name]],
                stdout=log, stderr=subprocess.STDOUT, env={**env, "LETHE_DATA_DIR": str(data)},
                cwd=REPO))
    deadline = time.monotonic() + 120
    for name in SECOND:
        host, port = second[name].split(":")
        while True:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"replica {name} did not start"
                time.sleep(0.3)
    try:
        yield dep, second
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        _stop(dep)


def _via(dep: Deployment, addresses: dict[str, str]) -> Deployment:
    env = {**dep.env, **{f"LETHE_{n.upper()}_ADDRESS": a for n, a in addresses.items()}}
    return Deployment(dep.data_dir, dep.key_dir, dep.backend, env)


def test_two_replicas_ingest_overlapping_input_exactly_once(replicated, tmp_path: Path) -> None:
    dep, second = replicated
    lines = list(generate(10, 300, seed=5))
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps(x) + "\n" for x in lines[:200]))
    b.write_text("".join(json.dumps(x) + "\n" for x in lines[100:]))  # 100 lines in both
    results = {}

    def run(name: str, d: Deployment, path: Path) -> None:
        results[name] = d.lethe_json("ingest", str(path), "--json")

    threads = [threading.Thread(target=run, args=("a", dep, a)),
               threading.Thread(target=run, args=("b", _via(dep, second), b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["a"]["rejected"] == results["b"]["rejected"] == 0
    assert results["a"]["stored"] + results["b"]["stored"] >= 300
    events = dep.lethe_json("audit", "replay", "--json")
    ingested = Counter(e["id"] for e in events if e["event"] == "InteractionIngested")
    stored = Counter(e["id"] for e in events if e["event"] == "RecordStored")
    scheduled = Counter(e["id"] for e in events if e["event"] == "ScheduleCreated")
    assert len(ingested) == 300 and set(ingested.values()) == {1}
    assert len(stored) == sum(4 if x.get("contact") else 3 for x in lines)
    assert set(stored.values()) == {1} and set(scheduled) == set(stored)
    assert set(scheduled.values()) == {1}


def test_concurrent_sweeps_on_two_replicas_expire_each_record_once(replicated) -> None:
    dep, second = replicated
    at = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=31)).isoformat()
    outputs = {}

    def sweep(name: str, d: Deployment) -> None:
        outputs[name] = d.lethe("retention", "sweep", "--at", at).stdout.decode()

    threads = [threading.Thread(target=sweep, args=("one", dep)),
               threading.Thread(target=sweep, args=("two", _via(dep, second)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expired = sorted(int(o.split("expired ")[1].split(",")[0]) for o in outputs.values())
    assert expired[0] == 0 and expired[1] > 0
    events = dep.lethe_json("audit", "replay", "--json")
    per_record = Counter(e["id"] for e in events if e["event"] == "RecordExpired")
    assert set(per_record.values()) == {1} and len(per_record) == expired[1]
    assert dep.lethe("audit", "verify").returncode == 0
