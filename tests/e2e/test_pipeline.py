"""End to end with the real services as processes: ingest, access, erase, sweep, replay, verify."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from typing import Any

import pytest

from cli.sample import generate
from tests.conftest import Deployment

ACCOUNTS = 12


@pytest.fixture(scope="module")
def flow(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the main job's steps once and keep every artifact for the tests below."""
    work = tmp_path_factory.mktemp("flow")  # outside the data dir: the sample holds PII in clear
    lines = list(generate(ACCOUNTS, ACCOUNTS * 25, seed=11))
    sample = work / "sample.jsonl"
    sample.write_text("".join(json.dumps(line) + "\n" for line in lines))
    accounts = list(dict.fromkeys(line["account_id"] for line in lines))
    a, b, c = accounts[:3]
    ingest = deployment.lethe_json("ingest", str(sample), "--json")
    deployment.lethe("rights", "access", a, "--out", str(work / "a.json"))
    deployment.lethe("rights", "access", c, "--out", str(work / "c-before.json"))
    erase = deployment.lethe("rights", "erase", b)
    deployment.lethe("rights", "access", b, "--out", str(work / "b-after.json"))
    deployment.lethe("rights", "access", c, "--out", str(work / "c-after.json"))
    at = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=31)).isoformat()
    sweep = deployment.lethe("retention", "sweep", "--at", at)
    deployment.lethe("rights", "access", a, "--out", str(work / "a-after-sweep.json"))
    replay = deployment.lethe_json("audit", "replay", "--account", a, "--json")
    verify = deployment.lethe("audit", "verify", "--json", check=False)
    return {"lines": lines, "a": a, "b": b, "c": c, "work": work, "ingest": ingest,
            "erase_out": erase.stdout.decode().strip(), "sweep_out": sweep.stdout.decode(),
            "replay": replay, "verify": verify}


def _export(flow: dict[str, Any], name: str) -> dict[str, Any]:
    return json.loads((flow["work"] / name).read_text())


def _prompts(lines: list[dict[str, Any]], account: str) -> list[str]:
    return sorted(line["prompt"] for line in lines if line["account_id"] == account)


def test_every_sample_line_is_stored(flow: dict[str, Any]) -> None:
    assert flow["ingest"]["stored"] == len(flow["lines"])
    assert flow["ingest"]["rejected"] == 0


def test_access_export_holds_exactly_the_accounts_prompts(flow: dict[str, Any]) -> None:
    export = _export(flow, "a.json")
    got = sorted(i["content"]["prompt"] for i in export["interactions"])
    assert got == _prompts(flow["lines"], flow["a"])
    assert export["format"] == "lethe.access-export/v1"
    assert {c["category"] for c in export["categories"]} >= {"user.content", "system.operations"}
    assert export["purposes"] and export["recipients"]
    assert all(r["retention"] for r in export["records"])
    for interaction in export["interactions"]:
        meta = interaction["technical_metadata"]
        assert "/" in meta["network_prefix"]  # a prefix, never the full address
        assert "user_agent" not in meta


def test_erasure_leaves_no_trace_in_any_file_of_the_data_dir(flow: dict[str, Any],
                                                             deployment: Deployment) -> None:
    b = flow["b"]
    mine = [line for line in flow["lines"] if line["account_id"] == b]
    needles = {b.encode()}
    for line in mine:
        needles.add(line["client_ip"].encode())
        for spans in line["labels"].values():
            needles |= {s["value"].encode() for s in spans
                        if s["type"] in ("EMAIL_ADDRESS", "PHONE_NUMBER")}
        prompt = line["prompt"]
        needles |= {prompt[i:i + 20].encode() for i in range(max(1, len(prompt) - 19))}
    files = [p for p in deployment.data_dir.rglob("*") if p.is_file()]
    blobs = [(p.name, p.read_bytes()) for p in files]
    if deployment.backend == "sqlite":
        assert any(p.name.endswith("-wal") or p.suffix == ".db" for p in files)
    else:  # the PostgreSQL schemas' contents, dumped
        prefix = deployment.env["LETHE_POSTGRES_SCHEMA_PREFIX"]
        dump = subprocess.run(["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-n", f"{prefix}_*",
                               "test"], capture_output=True, check=True, timeout=300).stdout
        assert b"CREATE TABLE" in dump
        blobs.append(("pg_dump", dump))
    leaks = []
    for name, data in blobs:
        leaks += [name for n in needles if len(n) >= 8 and n in data]
    assert not leaks, f"erased subject's data found in {sorted(set(leaks))}"
    assert len(flow["erase_out"]) == 36  # the request id


def test_erased_account_has_nothing_left_and_others_are_untouched(flow: dict[str, Any]) -> None:
    assert _export(flow, "b-after.json")["interactions"] == []
    before, after = _export(flow, "c-before.json"), _export(flow, "c-after.json")
    assert before["interactions"] == after["interactions"]
    assert sorted(i["content"]["prompt"] for i in after["interactions"]) == \
        _prompts(flow["lines"], flow["c"])


def test_sweep_31_days_later_purges_content_and_keeps_metadata(flow: dict[str, Any]) -> None:
    export = _export(flow, "a-after-sweep.json")
    assert export["interactions"], "technical metadata must outlive the content"
    for interaction in export["interactions"]:
        assert "content" not in interaction and "redacted_content" not in interaction
        assert "technical_metadata" in interaction
    assert "expired" in flow["sweep_out"]


def test_replay_shows_each_step_in_order(flow: dict[str, Any]) -> None:
    events = flow["replay"]
    names = [e["event"] for e in events]
    for step in ("InteractionIngested", "RecordStored", "ScheduleCreated", "RecordRead",
                 "RecordPurged", "RecordExpired", "RequestFulfilled"):
        assert step in names, step
    record = next(e["id"] for e in events if e["event"] == "RecordStored"
                  and e["attributes"]["form"] == "original")
    life = [e["event"] for e in events if e["id"] == record]
    assert life.index("RecordStored") < life.index("ScheduleCreated") < life.index("RecordRead") \
        < life.index("RecordPurged") < life.index("RecordExpired")
    times = [e["time"] for e in events if e["time"] is not None]  # undated events (design §4.9) first
    assert times == sorted(times)
    undated = [e["time"] is None for e in events]
    assert undated == sorted(undated, reverse=True)


def test_audit_verify_finds_the_logs_intact(flow: dict[str, Any]) -> None:
    result = json.loads(flow["verify"].stdout)
    assert result["violations"] == [] and flow["verify"].returncode == 0
    assert all(n > 0 for n in result["events"].values())


def test_events_never_hold_personal_data_in_clear(flow: dict[str, Any],
                                                  deployment: Deployment) -> None:
    events = deployment.lethe("audit", "replay", "--json").stdout
    for line in flow["lines"][:60]:
        assert line["account_id"].encode() not in events
        assert line["client_ip"].encode() not in events
        assert line["prompt"][:30].encode() not in events
