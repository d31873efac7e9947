"""Kill tests: SIGKILL each service at random moments during ingest and erasure, restart it, and
check that nothing was lost or duplicated (docs/design.md §4.8) and every erasure is complete (§4.3).

The loop: start ``lethe ingest`` (or ``lethe rights erase``) as a subprocess, sleep 0-1.5 s, kill
one service with SIGKILL (the services take turns), restart it on its recorded address (pid updated
in ``deployment.json``), wait for the CLI. A CLI that gave up because a service was down too long is
simply run again: ingest is idempotent, and an erasure already recorded is resumed by the rights
service (a second request for the same account is harmless).

Afterwards, exactly: one ``InteractionIngested`` per input line, 3 ``RecordStored`` per interaction
(4 with contact data), one ``ScheduleCreated`` per record, every erasure fulfilled, ``lethe audit
verify`` passes, and no file of the data dir holds an erased account's identifiers.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cli.deployment import health
from cli.sample import generate
from shared.config import SERVICES, load_settings
from shared.crypto import subject_ref
from shared.keysource import FileKeySource
from tests.conftest import REPO, Deployment

INGEST_ROUNDS = int(os.environ.get("LETHE_KILL_INGEST_ROUNDS", "12"))
ERASE_ROUNDS = int(os.environ.get("LETHE_KILL_ERASE_ROUNDS", "10"))
LINES_PER_ROUND = 60
MAX_KILL_DELAY_S = 1.5
ERASE_TURNS = ["rights", "vault", "retention", "rights", "vault", "retention", "rights",
               "ingestion", "anonymization", "vault"]


class Cluster:
    """Kills and restarts single services of a running deployment."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.settings = load_settings(dep.data_dir, dep.key_dir)
        self.keys = FileKeySource(dep.key_dir)
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.kills: Counter[str] = Counter()
        self.reruns = 0
        self.in_flight = 0  # kills while the CLI was still running

    @property
    def record_path(self) -> Path:
        return self.dep.data_dir / "deployment.json"

    def record(self) -> dict[str, Any]:
        return json.loads(self.record_path.read_text())

    def env(self) -> dict[str, str]:
        return {**os.environ, "LETHE_DATA_DIR": str(self.dep.data_dir),
                "LETHE_KEY_DIR": str(self.dep.key_dir), "COLUMNS": "200", **self.dep.env}

    def kill(self, name: str) -> None:
        pid = self.record()["services"][name]["pid"]
        os.kill(pid, signal.SIGKILL)
        child = self.children.pop(name, None)
        if child is not None:
            child.wait(timeout=30)
        else:  # started by `lethe up`, reaped by init: wait until it is gone
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.02)
        self.kills[name] += 1

    def start(self, name: str) -> None:
        """Start ``name`` again on its recorded address (as ``cli.deployment.up`` does)."""
        record = self.record()
        address = record["services"][name]["address"]
        deadline = time.monotonic() + 120
        while True:
            with open(self.dep.data_dir / "logs" / f"{name}.log", "ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", f"services.{name}.main", "--data-dir",
                     str(self.dep.data_dir), "--key-dir", str(self.dep.key_dir), "--address", address],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env(),
                    cwd=REPO, start_new_session=True)
            record = self.record()
            record["services"][name]["pid"] = proc.pid
            self.record_path.write_text(json.dumps(record, indent=2))
            while proc.poll() is None and time.monotonic() < deadline:
                if health(self.settings, self.keys, name, timeout=1.0) == "SERVING":
                    self.children[name] = proc
                    return
                time.sleep(0.1)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert time.monotonic() < deadline, f"{name} did not come back; see logs/{name}.log"
            time.sleep(0.5)  # e.g. the port not yet free: try again

    def cli(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "cli.main", *args], env=self.env(), cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run_with_kill(self, victim: str, rng: random.Random, *args: str) -> int:
        """Run the CLI, kill ``victim`` 0-1.5 s after the start, restart it; the CLI's exit code."""
        proc = self.cli(*args)
        time.sleep(rng.uniform(0, MAX_KILL_DELAY_S))
        self.in_flight += proc.poll() is None
        self.kill(victim)
        self.start(victim)
        proc.communicate(timeout=600)
        return proc.returncode

    def close(self) -> None:
        for proc in self.children.values():
            proc.poll()


def _key(line: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(line.get(k, "")) for k in ("account_id", "session_hint", "timestamp", "kind",
                                                "prompt", "response", "contact"))


def _wait_for_erasures(dep: Deployment, timeout_s: float = 120) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        requests = dep.lethe_json("rights", "list", "--json")
        erasures = [r for r in requests if r["kind"] == "erasure"]
        if all(r["state"] in ("fulfilled", "denied") for r in erasures) or time.monotonic() > deadline:
            return erasures
        time.sleep(0.5)


def test_sigkill_during_ingest_and_erasure_loses_and_duplicates_nothing(
        sqlite_deployment: Deployment, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    dep = sqlite_deployment
    started = time.monotonic()
    rng = random.Random(int(os.environ.get("LETHE_KILL_SEED", str(random.randrange(2**32)))))
    cluster = Cluster(dep)
    lines = list(generate(24, INGEST_ROUNDS * LINES_PER_ROUND, seed=rng.randrange(10**6)))
    for line in lines:
        line.pop("labels", None)

    # ---- ingest, one chunk per round, a service killed during each
    turns = [SERVICES[i % len(SERVICES)] for i in range(INGEST_ROUNDS)]
    rng.shuffle(turns)
    for n, victim in enumerate(turns):
        chunk = tmp_path / f"chunk-{n}.jsonl"
        chunk.write_text("".join(json.dumps(line) + "\n"
                                 for line in lines[n * LINES_PER_ROUND:(n + 1) * LINES_PER_ROUND]))
        code = cluster.run_with_kill(victim, rng, "ingest", str(chunk), "--json")
        attempts = 0
        while code != 0:  # gave up while the service was down: the same file again
            attempts += 1
            assert attempts <= 5, f"ingest of chunk {n} keeps failing"
            cluster.reruns += 1
            code = dep.lethe("ingest", str(chunk), "--json", check=False).returncode
    ingest_s = time.monotonic() - started

    # ---- erasures, a service killed during each
    accounts = list(dict.fromkeys(line["account_id"] for line in lines))
    erased = rng.sample(accounts, ERASE_ROUNDS)
    pepper = FileKeySource(dep.key_dir).get("pepper")
    refs = {subject_ref(pepper, a): a for a in erased}
    for account, victim in zip(erased, ERASE_TURNS * (1 + ERASE_ROUNDS // len(ERASE_TURNS)), strict=False):
        code = cluster.run_with_kill(victim, rng, "rights", "erase", account)
        if code != 0:  # submitted (then resumed by the rights service) or never received
            erasures = _wait_for_erasures(dep)
            ref = subject_ref(pepper, account)
            if not any(r["subject_ref"] == ref and r["state"] == "fulfilled" for r in erasures):
                cluster.reruns += 1
                dep.lethe("rights", "erase", account)
    kills = sum(cluster.kills.values())
    summary = (f"kill tests: {kills} SIGKILLs {dict(cluster.kills)} "
               f"({INGEST_ROUNDS} during ingest, {ERASE_ROUNDS} during erasure; "
               f"{cluster.in_flight} with the CLI still running), "
               f"{cluster.reruns} CLI re-runs; ingest {ingest_s:.0f} s, total "
               f"{time.monotonic() - started:.0f} s")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + summary, flush=True)
    assert kills >= 20 and set(cluster.kills) == set(SERVICES)

    # ---- every erasure fulfilled, none left open
    erasures = _wait_for_erasures(dep)
    assert all(r["state"] == "fulfilled" for r in erasures), \
        [(r["request_id"], r["state"], r["reason"]) for r in erasures if r["state"] != "fulfilled"]
    assert set(refs) <= {r["subject_ref"] for r in erasures}

    # ---- exact counts over the logs
    events = dep.lethe_json("audit", "replay", "--json")
    by = {}
    for e in events:
        by.setdefault((e["service"], e["event"]), []).append(e)
    ingested = by.get(("ingestion", "InteractionIngested"), [])
    distinct = {_key(line): line for line in lines}
    assert len(ingested) == len(distinct), "InteractionIngested per input line"
    assert len({e["id"] for e in ingested}) == len(ingested), "an interaction ingested twice"
    stored = by.get(("vault", "RecordStored"), [])
    want_records = sum(4 if line.get("contact") else 3 for line in distinct.values())
    assert len(stored) == want_records, "RecordStored: 3 per interaction, 4 with contact"
    assert len({e["id"] for e in stored}) == len(stored), "a record stored twice"
    expected_ids = {rid for e in ingested for rid in e["attributes"]["record_ids"]}
    assert {e["id"] for e in stored} == expected_ids
    schedules = by.get(("retention", "ScheduleCreated"), [])
    assert len(schedules) == len(stored) and {e["id"] for e in schedules} == expected_ids, \
        "ScheduleCreated: one per record"
    shredded = by.get(("vault", "SubjectShredded"), [])
    assert set(refs) <= {e["attributes"]["subject_ref"] for e in shredded}

    # ---- the audit log verifies
    verify = dep.lethe("audit", "verify", "--json", check=False)
    assert verify.returncode == 0, verify.stdout.decode()[-2000:]

    # ---- no file of the data dir holds an erased account's identifiers
    needles = set()
    for line in lines:
        if line["account_id"] in erased:
            needles |= {line["account_id"].encode(), line["client_ip"].encode()}
            if line.get("contact"):
                needles.add(line["contact"].encode())
    needles = {n for n in needles if len(n) >= 8}
    leaks = []
    for path in dep.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            leaks += [path.name for n in needles if n in data]
    assert not leaks, f"erased accounts' identifiers found in {sorted(set(leaks))}"

    # ---- survivors still readable in full (their DEKs survived bucket rotations and crashes)
    survivors = [a for a in accounts if a not in erased][:2]
    for account in survivors:
        out = tmp_path / "export.json"
        dep.lethe("rights", "access", account, "--out", str(out))
        export = json.loads(out.read_text())
        mine = sum(1 for line in distinct.values() if line["account_id"] == account)
        assert len(export["interactions"]) == mine
        out.unlink()
    cluster.close()
