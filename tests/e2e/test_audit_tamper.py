"""Verifiable audit end to end: real services sign their logs; ``lethe audit verify`` catches
tampering done directly in each service's SQLite ``stored_events`` table while it is down.

One deployment for the module: ingest, access, erase (verify still passes, the erasure's proof
checks offline, checkpoints advance), then one tamper per service (flip a byte, forge an append,
delete, swap, truncate), ``lethe up`` again, and verify names each service and position.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from typing import Any

import pytest

from cli.sample import generate
from tests.conftest import REPO, Deployment


@pytest.fixture(scope="module")
def deployment(sqlite_deployment: Deployment) -> Deployment:
    """This module tampers with SQLite files directly: SQLite only (intact logs are verified on
    both backends by test_pipeline's ``audit verify``)."""
    return sqlite_deployment


def _db(dep: Deployment, service: str) -> sqlite3.Connection:
    return sqlite3.connect(dep.data_dir / service / "events.db")


def _proofcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shared.proofcheck", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def audited(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Ingest, erase one account, access another (last), verify with a checkpoint, prove."""
    work = tmp_path_factory.mktemp("audit")
    lines = list(generate(5, 40, seed=3))
    (work / "in.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    accounts = list(dict.fromkeys(x["account_id"] for x in lines))
    deployment.lethe("ingest", str(work / "in.jsonl"))
    first = deployment.lethe_json("audit", "verify", "--json", "--checkpoint",
                                  str(work / "cp.json"))
    deployment.lethe("rights", "erase", accounts[0])
    rights_before_access = _db(deployment, "rights").execute(
        "SELECT MAX(rowid) FROM stored_events").fetchone()[0]
    deployment.lethe("rights", "access", accounts[1], "--out", str(work / "export.json"))
    second = deployment.lethe("audit", "verify", "--json", "--checkpoint", str(work / "cp.json"),
                              check=False)
    (work / "erased.json").write_bytes(deployment.lethe("audit", "prove", "--account",
                                                        accounts[0]).stdout)
    (work / "keys.json").write_bytes(deployment.lethe("audit", "keys", "--json").stdout)
    return {"work": work, "first": first, "second": second,
            "rights_before_access": rights_before_access}


def test_verify_after_erasure_is_intact_and_incremental(audited: dict[str, Any]) -> None:
    assert audited["first"]["ok"], audited["first"]["violations"]
    second = audited["second"]
    assert second.returncode == 0, second.stdout.decode() + second.stderr.decode()
    report = json.loads(second.stdout)["integrity"]
    assert all(r["ok"] and r["from_checkpoint"] for r in report.values())
    assert report["ingestion"]["verified_events"] == 0  # nothing new there: nothing re-read
    assert report["rights"]["verified_events"] > 0


def test_erasure_proof_checks_offline(audited: dict[str, Any]) -> None:
    work = audited["work"]
    doc = json.loads((work / "erased.json").read_text())
    names = {(e["service"], e["event"]) for e in doc["events"]}
    assert ("vault", "SubjectShredded") in names and ("rights", "RequestFulfilled") in names
    assert "subject_ref" in doc["subject"] and "account" not in json.dumps(doc["subject"])
    proc = _proofcheck(str(work / "erased.json"), "--keys", str(work / "keys.json"))
    assert proc.returncode == 0 and proc.stdout.startswith("ok:"), proc.stderr
    doc["events"][-1]["position"] += 1  # claim the event sits elsewhere
    (work / "bad.json").write_text(json.dumps(doc))
    assert _proofcheck(str(work / "bad.json")).returncode == 1


def test_record_proof_checks_offline(deployment: Deployment, audited: dict[str, Any]) -> None:
    doc = json.loads((audited["work"] / "erased.json").read_text())
    record = next(e["id"] for e in doc["events"] if e["event"] == "RecordStored")
    path = audited["work"] / "record.json"
    path.write_bytes(deployment.lethe("audit", "prove", "--record", record).stdout)
    assert {e["id"] for e in json.loads(path.read_text())["events"]} == {record}
    assert _proofcheck(str(path), "--keys", str(audited["work"] / "keys.json")).returncode == 0


def _flip_byte(con: sqlite3.Connection, rowid: int) -> None:
    (state,) = con.execute("SELECT state FROM stored_events WHERE rowid = ?", (rowid,)).fetchone()
    state = bytearray(state)
    state[len(state) // 2] ^= 0x01
    con.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (bytes(state), rowid))


def _swap(con: sqlite3.Connection, a: int, b: int) -> None:
    con.execute("UPDATE stored_events SET rowid = -1 WHERE rowid = ?", (a,))
    con.execute("UPDATE stored_events SET rowid = ? WHERE rowid = ?", (a, b))
    con.execute("UPDATE stored_events SET rowid = ? WHERE rowid = -1", (b,))


@pytest.fixture(scope="module")
def tampered(deployment: Deployment, audited: dict[str, Any]) -> dict[str, Any]:
    """Stop, tamper one way per service, start, verify; returns {service: violation}."""
    deployment.lethe("down")
    expected: dict[str, tuple[str, int]] = {}
    with _db(deployment, "ingestion") as con:  # flip one byte of an encrypted event
        _flip_byte(con, 3)
        expected["ingestion"] = ("EVENT_UNDECODABLE", 3)
    with _db(deployment, "anonymization") as con:  # append a forged event
        (n,) = con.execute("SELECT MAX(rowid) FROM stored_events").fetchone()
        con.execute("INSERT INTO stored_events (rowid, originator_id, originator_version, topic, "
                    "state) SELECT ?, ?, 1, topic, randomblob(120) FROM stored_events "
                    "WHERE rowid = 1", (n + 1, "f0" * 16))
        expected["anonymization"] = ("EVENT_UNDECODABLE", n + 1)
    with _db(deployment, "vault") as con:  # delete one event
        con.execute("DELETE FROM stored_events WHERE rowid = 5")
        expected["vault"] = ("EVENT_MISSING", 5)
    with _db(deployment, "retention") as con:  # swap two events (two schedules' creations)
        a, b = [r[0] for r in con.execute(
            "SELECT rowid FROM stored_events WHERE topic LIKE '%ScheduleCreated' "
            "AND rowid > 3 ORDER BY rowid LIMIT 2")]
        _swap(con, a, b)
        expected["retention"] = ("EVENT_ALTERED", a)
    with _db(deployment, "rights") as con:  # truncate the tail (the last request, whole)
        con.execute("DELETE FROM stored_events WHERE rowid > ?",
                    (audited["rights_before_access"],))
        expected["rights"] = ("LOG_TRUNCATED", audited["rights_before_access"] + 1)
    deployment.lethe("up")
    proc = deployment.lethe("audit", "verify", "--json", check=False)
    text = deployment.lethe("audit", "verify", check=False)
    return {"proc": proc, "text": text, "expected": expected}


def test_tampered_verify_fails(tampered: dict[str, Any]) -> None:
    assert tampered["proc"].returncode == 1
    assert not json.loads(tampered["proc"].stdout)["ok"]
    assert tampered["text"].returncode == 1


@pytest.mark.parametrize("service,tamper", [
    ("ingestion", "flip one byte"), ("anonymization", "append a forged event"),
    ("vault", "delete one event"), ("retention", "swap two events"),
    ("rights", "truncate the tail")])
def test_tamper_named_with_service_and_position(tampered: dict[str, Any], service: str,
                                                tamper: str) -> None:
    violations = json.loads(tampered["proc"].stdout)["violations"]
    got = [(v["kind"], v["position"]) for v in violations if v["service"] == service]
    assert got == [tampered["expected"][service]], (tamper, violations)
    kind, position = tampered["expected"][service]
    assert f"{kind} {service}@{position}" in tampered["text"].stderr.decode()


def test_checkpoint_rejects_a_rolled_back_log(deployment: Deployment,
                                              audited: dict[str, Any],
                                              tampered: dict[str, Any]) -> None:
    proc = deployment.lethe("audit", "verify", "--json", "--checkpoint",
                            str(audited["work"] / "cp.json"), check=False)
    assert proc.returncode == 1
    rights = [v for v in json.loads(proc.stdout)["violations"] if v["service"] == "rights"]
    assert rights and rights[0]["position"] == audited["rights_before_access"] + 1
