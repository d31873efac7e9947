"""`lethe up` on a running deployment: says so and restarts nothing, unless certificates were re-issued."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cli import deployment
from shared.config import SERVICES, Settings


def _running(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
    settings.data_dir.mkdir()
    record = {"started_at": "2026-01-01T00:00:00+00:00",
              "services": {n: {"address": f"127.0.0.1:{5000 + i}", "pid": os.getpid()} for i, n in enumerate(SERVICES)},
              "console": {"address": "127.0.0.1:4999", "pid": os.getpid()}}
    (settings.data_dir / "deployment.json").write_text(json.dumps(record))
    return settings


def test_up_on_a_running_deployment_says_so_and_restarts_nothing(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _running(tmp_path)
    monkeypatch.setattr(deployment, "_prepare_keys", lambda s: (None, []))
    monkeypatch.setattr(deployment, "down", lambda *a: pytest.fail("a running deployment was stopped"))
    lines: list[str] = []
    record = deployment.up(settings, progress=lines.append)
    assert record["started_at"] == "2026-01-01T00:00:00+00:00"
    assert len(lines) == 1 and lines[0].startswith("already running in ") and "nothing restarted" in lines[0]


def test_up_with_reissued_certificates_still_restarts_and_says_why(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _running(tmp_path)
    monkeypatch.setattr(deployment, "_prepare_keys", lambda s: (None, ["vault"]))
    stopped: list[Any] = []

    class Stop(Exception):
        pass

    def down(*args: Any) -> None:
        stopped.append(args)
        raise Stop  # the restart itself is covered by the e2e tests

    monkeypatch.setattr(deployment, "down", down)
    lines: list[str] = []
    with pytest.raises(Stop):
        deployment.up(settings, progress=lines.append)
    assert stopped and lines == ["certificates re-issued (vault): restarting"]


def test_progress_goes_to_stderr_not_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    deployment.say("vault SERVING after 3.4 s")
    out = capsys.readouterr()
    assert out.out == "" and out.err == "lethe up: vault SERVING after 3.4 s\n"
