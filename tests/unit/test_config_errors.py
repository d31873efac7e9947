"""Configuration errors: one clear line on stderr, exit 1, no traceback (CLI and service mains)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("LETHE_")}
    full.update({"LETHE_DATA_DIR": str(data_dir), "LETHE_KEY_DIR": str(data_dir.parent / "keys"), **env})
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=full, cwd=REPO,
                          timeout=120)


def _assert_one_clear_line(proc: subprocess.CompletedProcess[str], setting: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert setting in lines[0] and "configuration error" in lines[0]


BAD_ENV = [
    ({"LETHE_PERSISTENCE": "mysql"}, "LETHE_PERSISTENCE"),
    ({"LETHE_SWEEP_INTERVAL_S": "hourly"}, "LETHE_SWEEP_INTERVAL_S"),
    ({"LETHE_SWEEP_INTERVAL_S": "-5"}, "LETHE_SWEEP_INTERVAL_S"),
    ({"LETHE_RATE_LIMIT_PER_S": "fast"}, "LETHE_RATE_LIMIT_PER_S"),
    ({"LETHE_RATE_LIMIT_PER_S": "nan"}, "LETHE_RATE_LIMIT_PER_S"),
    ({"LETHE_DETECTION_WORKERS": "2.5"}, "LETHE_DETECTION_WORKERS"),
    ({"LETHE_REDACTION_OPERATOR": "hash"}, "LETHE_REDACTION_OPERATOR"),
]


@pytest.mark.parametrize(("env", "setting"), BAD_ENV, ids=[s + "=" + next(iter(e.values())) for e, s in BAD_ENV])
def test_a_bad_environment_setting_is_one_line_and_exit_1_for_the_cli(tmp_path: Path, env: dict[str, str],
                                                                        setting: str) -> None:
    _assert_one_clear_line(_run(["-m", "cli.main", "status"], tmp_path / "var", **env), setting)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"services": {"vault": 7}}',
                                     '{"services": {"vault": {"pid": 1}}}', '{"services": []}'])
def test_a_corrupt_deployment_file_is_one_line_and_exit_1(tmp_path: Path, content: str) -> None:
    data = tmp_path / "var"
    data.mkdir()
    (data / "deployment.json").write_text(content)
    for command in (["status"], ["down"], ["rights", "list"]):
        _assert_one_clear_line(_run(["-m", "cli.main", *command], data), "deployment.json")


@pytest.mark.parametrize(("env", "setting"), [({"LETHE_PERSISTENCE": "mysql"}, "LETHE_PERSISTENCE"),
                                              ({"LETHE_SWEEP_INTERVAL_S": "soon"}, "LETHE_SWEEP_INTERVAL_S")])
def test_a_service_main_with_a_bad_setting_is_one_line_and_exit_1(tmp_path: Path, env: dict[str, str],
                                                                 setting: str) -> None:
    proc = _run(["-m", "services.ingestion.main", "--data-dir", str(tmp_path / "var")], tmp_path / "var", **env)
    _assert_one_clear_line(proc, setting)
    assert proc.stderr.startswith("lethe-ingestion: ")
