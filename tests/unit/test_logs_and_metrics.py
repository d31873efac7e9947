"""JSON logs on request (LETHE_LOG_FORMAT=json) and the Prometheus scrape endpoint (LETHE_METRICS_ADDRESS)."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import ConfigError
from shared.logs import JsonFormatter, configure_logging

REPO = Path(__file__).resolve().parents[2]
CANARY = "quinby.canarysmith@example.org"


def test_a_json_log_line_names_an_exception_by_class_never_by_its_message() -> None:
    try:
        raise ValueError(f"bad address {CANARY}")
    except ValueError:
        record = logging.LogRecord("lethe.x", logging.ERROR, __file__, 1, "store failed for %s", ("rec-1",),
                                   sys.exc_info())
    line = JsonFormatter("vault").format(record)
    entry = json.loads(line)
    assert "\n" not in line and CANARY not in line
    assert entry["service"] == "vault" and entry["level"] == "ERROR" and entry["logger"] == "lethe.x"
    assert entry["message"] == "store failed for rec-1" and entry["error"] == "ValueError"
    assert entry["at"] and entry["time"].endswith("+00:00")


def test_an_unknown_log_format_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="LETHE_LOG_FORMAT"):
        configure_logging("vault", "xml")


def test_a_service_with_an_unknown_log_format_exits_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "LETHE_LOG_FORMAT": "xml"}
    done = subprocess.run([sys.executable, "-m", "services.ingestion.main", "--data-dir", str(tmp_path / "var"),
                           "--key-dir", str(tmp_path / "keys")], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == "lethe-ingestion: configuration error: LETHE_LOG_FORMAT must be one of: text, json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lethe_metrics_are_served_for_a_prometheus_scrape() -> None:
    port = free_port()
    script = (
        "import urllib.request\n"
        "from shared.telemetry import setup_telemetry, meter\n"
        "setup_telemetry('ingestion')\n"
        "meter().create_counter('lethe.ingest.interactions', unit='1').add(3, {'lethe.outcome': 'stored'})\n"
        f"print(urllib.request.urlopen('http://127.0.0.1:{port}/metrics', timeout=10).read().decode())\n"
    )
    env = {**os.environ, "LETHE_METRICS_ADDRESS": f"127.0.0.1:{port}"}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("lethe_ingest_interactions")]
    assert any('lethe_outcome="stored"' in line and line.endswith(" 3.0") for line in lines), done.stdout[-2000:]


def test_a_bad_metrics_address_is_a_configuration_error() -> None:
    script = "from shared.telemetry import setup_telemetry\nsetup_telemetry('vault')\n"
    env = {**os.environ, "LETHE_METRICS_ADDRESS": "nine-four-six-four"}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "LETHE_METRICS_ADDRESS must be host:port" in done.stderr
