"""Canaries: planted personal data never appears in traces, logs, error messages or events."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import Deployment, _stop

CANARIES = {
    "account_id": "acct-canary-7f3a9q",
    "session_hint": "canary-session-51xz",
    "client_ip": "198.51.100.213",
    "user_agent": "CanaryBrowser/9.9.41",
    "email": "quinby.canarysmith@example.org",
    "name": "Quinby Canarysmith",
    "phone": "+1 202 555 0199",
}


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("canary")
    dep = Deployment(root / "var", root / "keys", "sqlite",
                     {"LETHE_TRACE_FILE": str(root / "traces-{service}.jsonl")})
    dep.lethe("up")
    try:
        yield dep
    finally:
        _stop(dep)


def _needles() -> list[bytes]:
    return [v.encode() for v in CANARIES.values()] + [CANARIES["email"].split("@")[0].encode()]


def test_planted_personal_data_reaches_no_trace_log_error_or_event(traced: Deployment) -> None:
    c = CANARIES
    prompt = f"I am {c['name']}, mail me at {c['email']} or call {c['phone']}."
    good = {"account_id": c["account_id"], "session_hint": c["session_hint"],
            "client_ip": c["client_ip"], "user_agent": c["user_agent"], "region": "EU",
            "timestamp": "2026-11-01T10:00:00Z", "prompt": prompt, "response": f"Hello {c['name']}"}
    bad = [dict(good, client_ip=f"{c['email']}"), dict(good, region=c["name"]),
           dict(good, timestamp=c["phone"]), dict(good, prompt=""), dict(good, kind=c["email"])]
    path = traced.data_dir.parent / "canary.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in [good, *bad]))
    outputs = [traced.lethe("ingest", str(path), check=False)]
    assert outputs[0].returncode == 1  # the bad lines were refused (and the good one ingested)
    outputs.append(traced.lethe("anonymize", "--json", stdin=prompt.encode()))
    outputs.append(traced.lethe("rights", "access", c["account_id"], "--out",
                                str(traced.data_dir.parent / "export.json")))
    outputs.append(traced.lethe("rights", "object", c["account_id"], "--purpose", "model-training"))
    outputs.append(traced.lethe("rights", "object", c["account_id"], "--purpose", c["email"], check=False))
    outputs.append(traced.lethe("retention", "hold", "place", "--reason", c["name"],
                                "--account", c["account_id"], check=False))
    outputs.append(traced.lethe("rights", "erase", c["account_id"]))
    events = traced.lethe("audit", "replay", "--json").stdout
    traced.lethe("down")  # flush every span and log line
    traces = b"".join(p.read_bytes() for p in traced.data_dir.parent.glob("traces-*.jsonl"))
    logs = b"".join(p.read_bytes() for p in (traced.data_dir / "logs").glob("*.log"))
    assert traces.count(b'"name"') > 20, "the services must have exported spans"
    assert b"lethe.v1.IngestionService/Ingest" in traces and b"lethe.v1.VaultService/Store" in traces
    errors = b"".join(o.stderr for o in outputs)
    assert b"CLIENT_IP_INVALID" in errors or b"rejected" in errors
    for needle in _needles():
        for where, blob in (("traces", traces), ("logs", logs), ("events", events),
                            ("errors", errors)):
            assert needle not in blob, f"canary found in {where}"
    traced.lethe("up")


def test_one_trace_follows_an_ingest_batch_across_the_services(traced: Deployment) -> None:
    spans = [json.loads(line) for p in traced.data_dir.parent.glob("traces-*.jsonl")
             for line in p.read_text().splitlines()]
    ingest = [s for s in spans if s["name"].endswith("IngestionService/Ingest")
              and "SERVER" in s["kind"]]
    assert ingest
    trace_id = ingest[0]["context"]["trace_id"]
    names = {s["name"].rsplit("/", 1)[-1] for s in spans if s["context"]["trace_id"] == trace_id}
    assert {"Ingest", "OpenSessions", "AnonymizeBatch", "Store", "lethe.ingest.batch"} <= names
