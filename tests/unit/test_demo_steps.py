"""The demo (``make run``) cannot race the services' files, and names the step that failed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli import demo


def test_a_file_that_vanishes_between_listing_and_reading_is_skipped(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "transparency").mkdir()
    (tmp_path / "transparency" / "state.json.tmp").write_bytes(b"acct-secret-1 being renamed")
    (tmp_path / "vault.db").write_bytes(b"...acct-secret-1...")
    real = Path.read_bytes

    def racing_read(self: Path) -> bytes:
        if self.name.endswith(".tmp"):  # the service renames it into place right now
            self.unlink()
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", racing_read)
    assert demo.scan_for(tmp_path, [b"acct-secret-1"]) == ["vault.db"]


class FakeDeployment:
    """Stands in for `lethe up`/`down`; records the order of events."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.DeploymentError = RuntimeError

    def up(self, settings: Any) -> dict[str, Any]:
        self.log.append("up")
        return {"services": {"vault": {}}}

    def down(self, settings: Any) -> list[str]:
        self.log.append("down")
        return []

    def connect(self, *args: Any) -> tuple[Any, Any, Any]:
        class Peers:
            def close(self) -> None:
                pass
        return None, None, Peers()


def _fake_world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, log: list[str]) -> Path:
    monkeypatch.setattr(demo, "deployment", FakeDeployment(log))
    lines = [{"account_id": f"acct-demo-{n % 2}", "prompt": "hello", "labels": {}} for n in range(4)]
    sample = tmp_path / "in.jsonl"
    sample.write_text("".join(json.dumps(line) + "\n" for line in lines))
    monkeypatch.setattr(demo, "ingest_file", lambda *a, **k: {
        "stored": 4, "duplicate": 0, "rejected": 0, "erased": 0, "seconds": 1.0, "rate_per_s": 4.0,
        "rejections": []})
    monkeypatch.setattr(demo, "access_export", lambda *a, **k: {
        "request_id": "r1", "state": "fulfilled", "interactions": 2, "records": 6, "file": "x"})
    monkeypatch.setattr(demo, "erase_account", lambda *a, **k: {"request_id": "r2", "state": "fulfilled"})
    monkeypatch.setattr(demo, "sweep_at", lambda *a, **k: {
        "expired": 0, "held": 0, "aggregated": 0, "excluded_by_objection": 0})
    monkeypatch.setattr(demo.audit, "read_logs", lambda peers: {})
    monkeypatch.setattr(demo.audit, "verify", lambda logs: [])
    return sample


def test_the_erasure_scan_runs_only_after_the_services_stopped(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    sample = _fake_world(monkeypatch, tmp_path, log)
    real_scan = demo.scan_for

    def scan(root: Path, needles: list[bytes]) -> list[str]:
        log.append("scan")
        return real_scan(root, needles)

    monkeypatch.setattr(demo, "scan_for", scan)
    summary = demo.run_demo(tmp_path / "var", tmp_path / "keys", sample, 2, 4)
    assert log == ["up", "down", "scan"]
    assert summary["erase"]["files_with_identifiers"] == []


@pytest.mark.parametrize("failing", ["ingest_file", "access_export", "erase_account", "sweep_at"])
def test_a_failed_step_is_named_on_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str], failing: str) -> None:
    log: list[str] = []
    sample = _fake_world(monkeypatch, tmp_path, log)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise FileNotFoundError(2, "No such file or directory", "transparency/state.json.tmp")

    monkeypatch.setattr(demo, failing, boom)
    with pytest.raises(FileNotFoundError):
        demo.run_demo(tmp_path / "var", tmp_path / "keys", sample, 2, 4)
    name = {"ingest_file": "ingest", "access_export": "access", "erase_account": "erase",
            "sweep_at": "sweep"}[failing]
    assert f"{name}" in capsys.readouterr().err.split("failed")[0].split()[-1]
    assert log[-1] == "down"  # the services are stopped all the same
