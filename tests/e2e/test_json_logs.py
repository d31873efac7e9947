"""LETHE_LOG_FORMAT=json: every service logs one JSON object per line, and no planted personal data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Deployment, _stop

pytestmark = pytest.mark.e2e
SERVICES = ["ingestion", "anonymization", "vault", "retention", "rights"]
CANARIES = ["acct-jsonlog-canary-3k", "198.51.100.77", "Ottoline Jsoncanary", "ottoline.jsoncanary@example.org"]


def test_services_log_json_lines_without_personal_data(tmp_path: Path) -> None:
    dep = Deployment(tmp_path / "var", tmp_path / "keys", "sqlite", {"LETHE_LOG_FORMAT": "json"})
    dep.lethe("up")
    try:
        account, ip, name, email = CANARIES
        good = {"account_id": account, "client_ip": ip, "region": "EU", "timestamp": "2026-11-01T10:00:00Z",
                "prompt": f"I am {name}, write to {email}.", "response": f"Hello {name}"}
        lines = [good, dict(good, client_ip=email), dict(good, timestamp=name)]
        path = tmp_path / "in.jsonl"
        path.write_text("".join(json.dumps(x) + "\n" for x in lines))
        dep.lethe("ingest", str(path), check=False)
        dep.lethe("rights", "erase", account)
    finally:
        _stop(dep)
    for service in SERVICES:
        text = (dep.data_dir / "logs" / f"{service}.log").read_text(encoding="utf-8")
        entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert entries, f"{service} wrote no JSON log line"
        assert all(e["service"] == service and {"time", "level", "logger", "message"} <= set(e) for e in entries)
        assert any(e["message"] == "stopped" for e in entries), f"{service}: the shutdown was not logged"
        others = [line for line in text.splitlines() if line.strip() and not line.startswith("{")]
        assert not others, f"{service} wrote non-JSON lines: {others[:3]}"
        for canary in CANARIES:
            assert canary not in text, f"canary in {service}'s log"
