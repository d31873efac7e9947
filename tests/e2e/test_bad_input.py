"""Bad input is reported by line, the rest is ingested, and nothing is half-stored."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Deployment


def _line(n: int, **overrides: Any) -> dict[str, Any]:
    base = {"account_id": f"acct-bad-{n:04d}", "session_hint": "conv-1", "client_ip": "203.0.113.7",
            "user_agent": "Mozilla/5.0 Firefox/120.0", "region": "EU",
            "timestamp": "2026-11-01T10:00:00Z", "kind": "interaction",
            "prompt": f"Generated prompt number {n} about gardening.", "response": "Water daily."}
    base.update(overrides)
    return base


def test_bad_lines_are_reported_by_number_and_the_rest_is_ingested(deployment: Deployment,
                                                                   tmp_path: Any) -> None:
    before = {r["service"]: r["events"] for r in deployment.lethe_json("status", "--json")}
    missing = _line(4)
    del missing["account_id"]
    rows = [
        json.dumps(_line(1)).encode(),                                   # 1 good
        b'{"account_id": "acct-x", "prompt": ',                          # 2 malformed JSON
        json.dumps(_line(3)).encode(),                                   # 3 good
        json.dumps(missing).encode(),                                    # 4 missing field
        json.dumps(_line(5, prompt="   ")).encode(),                     # 5 empty prompt
        json.dumps(_line(6, prompt="x" * (10 * 1024 * 1024))).encode(),  # 6 10 MB prompt
        b'{"account_id": "acct-bad-7", "prompt": "caf\xe9 \xff"}',       # 7 invalid UTF-8
        json.dumps(_line(8, client_ip="999.1.1.1")).encode(),            # 8 bad IP
        json.dumps(_line(9, prompt="y" * 300_000)).encode(),             # 9 prompt over 256 KiB
        json.dumps(_line(10)).encode(),                                  # 10 good
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(rows) + b"\n")
    proc = deployment.lethe("ingest", str(path), "--json", check=False)
    assert proc.returncode == 1  # some lines were refused: a script must learn it
    result = json.loads(proc.stdout)
    assert result["stored"] == 3 and result["rejected"] == 7
    reasons = {r["line"]: r["reason"] for r in result["rejections"]}
    assert reasons == {2: "NOT_JSON", 4: "ACCOUNT_ID_INVALID", 5: "PROMPT_EMPTY",
                       6: "LINE_TOO_LARGE", 7: "NOT_UTF8", 8: "CLIENT_IP_INVALID",
                       9: "PROMPT_TOO_LARGE"}
    stderr = proc.stderr.decode()
    for n in reasons:
        assert f"line {n}:" in stderr
    assert "999.1.1.1" not in stderr and "acct-bad" not in stderr  # errors never echo input
    after = {r["service"]: r["events"] for r in deployment.lethe_json("status", "--json")}
    # Exactly the 3 good interactions, each fully stored: 3 records + keyring events per account.
    replay = deployment.lethe_json("audit", "replay", "--json")
    new = [e for e in replay if e["event"] == "InteractionIngested"][-3:]  # the log's newest
    assert after["ingestion"] - before["ingestion"] == 3
    assert all(len(e["attributes"]["record_ids"]) == 3 for e in new)
    assert deployment.lethe("audit", "verify").returncode == 0


def test_reingesting_the_same_file_changes_nothing(deployment: Deployment, tmp_path: Any) -> None:
    path = tmp_path / "twice.jsonl"
    path.write_text("".join(json.dumps(_line(100 + n)) + "\n" for n in range(5)))
    first = deployment.lethe_json("ingest", str(path), "--json")
    events = {r["service"]: r["events"] for r in deployment.lethe_json("status", "--json")}
    second = deployment.lethe_json("ingest", str(path), "--json")
    assert first["stored"] == 5 and second["duplicate"] == 5 and second["stored"] == 0
    after = {r["service"]: r["events"] for r in deployment.lethe_json("status", "--json")}
    assert after["ingestion"] == events["ingestion"] and after["vault"] == events["vault"]
