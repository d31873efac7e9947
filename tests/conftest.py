"""Shared fixtures: a real local deployment (five service processes) in a temporary data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
HANDBOOK = Path(os.environ.get("LETHE_HANDBOOK_DIR", REPO.parent / "shared"))


@dataclass
class Deployment:
    """A running deployment and a way to call its CLI."""

    data_dir: Path
    key_dir: Path

    def lethe(self, *args: str, stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run ``lethe ARGS`` against this deployment (a real subprocess)."""
        env = {**os.environ, "LETHE_DATA_DIR": str(self.data_dir), "LETHE_KEY_DIR": str(self.key_dir),
               "COLUMNS": "200"}
        proc = subprocess.run([sys.executable, "-m", "cli.main", *args], input=stdin,
                              capture_output=True, env=env, cwd=REPO, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"lethe {' '.join(args)} exited {proc.returncode}: "
                                 f"{proc.stderr.decode(errors='replace')[-2000:]}")
        return proc

    def lethe_json(self, *args: str) -> Any:
        """Run a command that prints JSON and parse it."""
        return json.loads(self.lethe(*args).stdout)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Start the five services (``lethe up``) in a fresh data dir; ``lethe down`` afterwards."""
    root = tmp_path_factory.mktemp("lethe")
    dep = Deployment(root / "var", root / "keys")
    dep.lethe("up")
    try:
        yield dep
    finally:
        dep.lethe("down", check=False)
