"""``lethe audit replay`` and ``verify`` read the gateway's own event log when the machine holds it,
and ``verify`` lists every named invariant with its outcome and the number of events it read.

Against real services (SQLite and PostgreSQL): before any gateway traffic, verify lists every
invariant passing and no gateway log; re-identifications written by the gateway's own log code
(``services/gateway/record.py``, in a separate process as the gateway would) then appear in
replay and are checked by verify; one holding a name instead of counts is reported
(``REIDENTIFICATION_HOLDS_DATA``, without the name); a flipped byte in the gateway's SQLite store
is reported (``EVENT_UNDECODABLE``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cli.sample import generate
from shared.audit import INVARIANTS
from tests.conftest import REPO, Deployment

pytestmark = pytest.mark.e2e
NAME = "Jane Roe-Example"
_WRITE = """
import json, sys
from services.gateway.record import GatewayLog
from shared.config import load_settings
from shared.keysource import FileKeySource
settings = load_settings()
log = GatewayLog(settings, FileKeySource(settings.key_dir))
for request_id, counts in json.loads(sys.argv[1]):
    log.record_reidentification(request_id, counts, False)
log.close()
"""


def _gateway_records(dep: Deployment, rows: list[tuple[str, dict[str, int]]]) -> None:
    env = {**os.environ, "LETHE_DATA_DIR": str(dep.data_dir), "LETHE_KEY_DIR": str(dep.key_dir),
           **dep.env}
    subprocess.run([sys.executable, "-c", _WRITE, json.dumps(rows)], cwd=REPO, env=env,
                   check=True, timeout=120)


def _verify(dep: Deployment) -> tuple[int, dict[str, Any]]:
    proc = dep.lethe("audit", "verify", "--json", check=False)
    return proc.returncode, json.loads(proc.stdout)


def _flip(state: bytes) -> bytes:
    flipped = bytearray(state)
    flipped[len(flipped) // 2] ^= 0x01
    return bytes(flipped)


def _flip_a_byte_of_the_second_event(dep: Deployment) -> None:
    """Tamper with the gateway's stored event at position 2, in its SQLite file or its
    PostgreSQL table (found by its ``notification_id`` column in the gateway's schema)."""
    if dep.backend == "sqlite":
        with sqlite3.connect(dep.data_dir / "gateway" / "events.db") as con:
            (state,) = con.execute("SELECT state FROM stored_events WHERE rowid = 2").fetchone()
            con.execute("UPDATE stored_events SET state = ? WHERE rowid = 2", (_flip(state),))
        return
    import psycopg

    schema = f'{dep.env["LETHE_POSTGRES_SCHEMA_PREFIX"]}_gateway'
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as db:
        (table,) = db.execute("SELECT table_name FROM information_schema.columns WHERE table_schema"
                              " = %s AND column_name = 'notification_id'", (schema,)).fetchone()
        name = f'"{schema}"."{table}"'
        (state,) = db.execute(f"SELECT state FROM {name} WHERE notification_id = 2").fetchone()
        db.execute(f"UPDATE {name} SET state = %s WHERE notification_id = 2", (_flip(bytes(state)),))


@pytest.fixture(scope="module")
def flow(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("gw")
    lines = list(generate(3, 12, seed=11))
    (work / "in.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    deployment.lethe("ingest", str(work / "in.jsonl"))
    out: dict[str, Any] = {"backend": deployment.backend}
    out["before"] = _verify(deployment)
    out["before_text"] = deployment.lethe("audit", "verify").stdout.decode()
    try:
        _gateway_records(deployment, [(str(uuid.uuid4()), {"EMAIL_ADDRESS": n, "PERSON": 1})
                                      for n in range(3)])
        out["replay"] = deployment.lethe_json("audit", "replay", "--json")
        out["with_gateway"] = _verify(deployment)
        _gateway_records(deployment, [(str(uuid.uuid4()), {NAME: 1})])
        out["holding_a_name"] = _verify(deployment)
        _flip_a_byte_of_the_second_event(deployment)
        out["flipped"] = _verify(deployment)
        yield out
    finally:
        if deployment.backend == "postgres":
            import psycopg

            schema = f'{deployment.env["LETHE_POSTGRES_SCHEMA_PREFIX"]}_gateway'
            with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test",
                                 autocommit=True) as db:
                db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_verify_lists_every_invariant_with_the_events_it_read(flow: dict[str, Any]) -> None:
    code, doc = flow["before"]
    assert code == 0 and doc["ok"], doc["violations"]
    assert [i["name"] for i in doc["invariants"]] == [i.name for i in INVARIANTS]
    by_name = {i["name"]: i for i in doc["invariants"]}
    assert all(i["status"] == "pass" for i in doc["invariants"]), by_name
    assert by_name["RECORD_WITHOUT_SCHEDULE"]["checked_events"] > 0
    assert by_name["ERASED_KEY_ALIVE"]["status"] == "pass"  # the local key source is visible
    assert "unsigned_logs" not in doc  # no gateway log yet


def test_verify_prints_each_invariants_outcome(flow: dict[str, Any]) -> None:
    lines = flow["before_text"].splitlines()
    for inv in INVARIANTS:
        assert any(line.split()[:2] == ["pass", inv.name] for line in lines), inv.name
    assert lines[-1] == "intact"


def test_replay_and_verify_read_the_gateway_log(flow: dict[str, Any]) -> None:
    gateway = [e for e in flow["replay"] if e["service"] == "gateway"]
    assert [e["event"] for e in gateway] == ["ResponseReidentified"] * 3
    assert [e["position"] for e in gateway] == [1, 2, 3]
    code, doc = flow["with_gateway"]
    assert code == 0 and doc["ok"], doc["violations"]
    assert doc["unsigned_logs"] == {"gateway": 3}
    by_name = {i["name"]: i for i in doc["invariants"]}
    assert by_name["REIDENTIFICATION_HOLDS_DATA"]["checked_events"] == 3
    assert "gateway" not in doc["integrity"]  # no signed heads: checked by the invariants only


def test_a_reidentification_holding_a_name_is_reported_without_it(flow: dict[str, Any]) -> None:
    code, doc = flow["holding_a_name"]
    assert code == 1 and not doc["ok"]
    assert [(v["kind"], v["service"], v["position"]) for v in doc["violations"]] == [
        ("REIDENTIFICATION_HOLDS_DATA", "gateway", 4)]
    assert NAME not in json.dumps(doc)


def test_a_flipped_byte_in_the_gateway_store_is_reported(flow: dict[str, Any]) -> None:
    code, doc = flow["flipped"]
    assert code == 1
    kinds = {(v["kind"], v["service"], v["position"]) for v in doc["violations"]}
    assert ("EVENT_UNDECODABLE", "gateway", 2) in kinds
