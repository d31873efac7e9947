"""Shared fixtures: a real local deployment (five service processes) in a temporary data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
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
    backend: str = "sqlite"
    env: dict[str, str] = field(default_factory=dict)

    def lethe(self, *args: str, stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run ``lethe ARGS`` against this deployment (a real subprocess)."""
        env = {**os.environ, "LETHE_DATA_DIR": str(self.data_dir), "LETHE_KEY_DIR": str(self.key_dir),
               "COLUMNS": "200", **self.env}
        proc = subprocess.run([sys.executable, "-m", "cli.main", *args], input=stdin,
                              capture_output=True, env=env, cwd=REPO, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"lethe {' '.join(args)} exited {proc.returncode}: "
                                 f"{proc.stderr.decode(errors='replace')[-2000:]}")
        return proc

    def lethe_json(self, *args: str) -> Any:
        """Run a command that prints JSON and parse it."""
        return json.loads(self.lethe(*args).stdout)


def _start(root: Path, backend: str) -> Deployment:
    env = {}
    if backend == "postgres":
        env = {"LETHE_PERSISTENCE": "postgres", "POSTGRES_HOST": "127.0.0.1",
               "POSTGRES_USER": "postgres", "POSTGRES_DBNAME": "test",
               "LETHE_POSTGRES_SCHEMA_PREFIX": f"t{uuid.uuid4().hex[:10]}"}
    dep = Deployment(root / "var", root / "keys", backend, env)
    dep.lethe("up")
    return dep


def _stop(dep: Deployment) -> None:
    dep.lethe("down", check=False)
    if dep.backend == "postgres":
        prefix = dep.env["LETHE_POSTGRES_SCHEMA_PREFIX"]
        import psycopg

        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as db:
            for service in ("ingestion", "anonymization", "vault", "retention", "rights"):
                db.execute(f'DROP SCHEMA IF EXISTS "{prefix}_{service}" CASCADE')


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The five services (``lethe up``) in a fresh data dir, on each event-store backend."""
    dep = _start(tmp_path_factory.mktemp("lethe"), request.param)
    try:
        yield dep
    finally:
        _stop(dep)


@pytest.fixture(scope="module")
def sqlite_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A SQLite deployment, for tests that inspect or copy the files of the data dir."""
    dep = _start(tmp_path_factory.mktemp("lethe"), "sqlite")
    try:
        yield dep
    finally:
        _stop(dep)
