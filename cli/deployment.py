"""Local deployments: start the five services as detached processes, find them, stop them.

``lethe up`` picks free ports, records them with the pids in ``<data dir>/deployment.json``,
starts each service (``python -m services.<name>.main``) with its log in ``<data dir>/logs/``, and
waits until every service reports SERVING on the standard gRPC health service. It also starts the DPO
console (``python -m services.console.main``) on a loopback port; ``status`` gives its one-time
login link as ``url``. It makes the key dir
with one certificate per identity (:mod:`shared.tls`); a key dir from an older version gets the
missing or outdated certificates, and a running deployment is restarted to serve them. Progress
(one line per service as it becomes SERVING, or that the deployment is already running) goes to
stderr, so that stdout stays clean for JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shared.clients import Peers
from shared.config import DEPLOYMENT_FILE, SERVICES, Settings, environment, load_settings
from shared.gen.lethe.v1 import events_pb2, events_pb2_grpc
from shared.keysource import FileKeySource
from shared.tls import ensure_local_pki
from shared.transparency import ensure_signing_key

START_TIMEOUT_S = 120.0


class DeploymentError(Exception):
    """Raised when a deployment cannot be started, found or reached (message has no personal data)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a zombie child of ours counts as dead
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def read_deployment(settings: Settings) -> dict[str, Any] | None:
    """The recorded deployment, or None when there is none."""
    path = settings.data_dir / DEPLOYMENT_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text())


def prepare_keys(settings: Settings) -> FileKeySource:
    """Create the key dir (0700) with the pepper and the local PKI (files 0600) if missing."""
    return _prepare_keys(settings)[0]


def _prepare_keys(settings: Settings) -> tuple[FileKeySource, list[str]]:
    """The key dir, made or completed, and the identities whose certificates were (re-)issued."""
    keys = FileKeySource(settings.key_dir)
    keys.get_or_create("pepper")
    for service in SERVICES:
        keys.get_or_create(f"event-cipher/{service}")
        ensure_signing_key(keys, service)  # audit/<service>.ed25519, publishes audit/<service>.pub
    return keys, ensure_local_pki(keys)


def health(settings: Settings, keys: FileKeySource, service: str, timeout: float = 2.0) -> str:
    """SERVING, NOT_SERVING or UNREACHABLE for one service."""
    peers = Peers(settings, keys, "operator")
    try:
        stub = health_pb2_grpc.HealthStub(peers.channel(service))
        resp = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
    except grpc.RpcError:
        return "UNREACHABLE"
    finally:
        peers.close()


def say(line: str) -> None:
    """One progress line of ``lethe up`` on stderr."""
    sys.stderr.write(f"lethe up: {line}\n")
    sys.stderr.flush()


def up(settings: Settings, extra_env: dict[str, str] | None = None,
       progress: Callable[[str], None] = say) -> dict[str, Any]:
    """Start the five services (or return the running deployment); waits until all are SERVING.

    ``progress`` gets one line per step (default: stderr): already running, restarting, and each
    service as it becomes SERVING with the seconds since the start.

    Raises DeploymentError when a service exits or does not become healthy in time.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    existing = read_deployment(settings)
    keys, reissued = _prepare_keys(settings)
    console_alive = bool(existing and existing.get("console") and _alive(existing["console"]["pid"]))
    if existing and all(_alive(s["pid"]) for s in existing["services"].values()) and console_alive \
            and not reissued:
        progress(f"already running in {settings.data_dir} (started {existing.get('started_at', '?')}); "
                 "nothing restarted")
        return existing
    if existing:
        progress(f"certificates re-issued ({', '.join(reissued)}): restarting" if reissued
                 else "the recorded deployment is not fully running: restarting")
        down(settings)  # stopped, or serving certificates older than the key dir's: restart
    logs = settings.data_dir / "logs"
    logs.mkdir(exist_ok=True, mode=0o700)
    ports = {name: _free_port() for name in SERVICES}
    record: dict[str, Any] = {
        "data_dir": str(settings.data_dir), "key_dir": str(settings.key_dir),
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "services": {n: {"address": f"127.0.0.1:{p}", "pid": 0} for n, p in ports.items()},
        "console": {"address": f"127.0.0.1:{_free_port()}", "pid": 0}}
    path = settings.data_dir / DEPLOYMENT_FILE
    path.write_text(json.dumps(record, indent=2))
    progress(f"starting {', '.join(SERVICES)} and the console (logs in {logs})")
    started = time.monotonic()
    env = {**environment(), "LETHE_DATA_DIR": str(settings.data_dir),
           "LETHE_KEY_DIR": str(settings.key_dir), **(extra_env or {})}
    for name in SERVICES:
        with open(logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}.main", "--data-dir", str(settings.data_dir),
                 "--key-dir", str(settings.key_dir), "--address", record["services"][name]["address"]],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True)
        record["services"][name]["pid"] = proc.pid
    with open(logs / "console.log", "ab") as log:
        record["console"]["pid"] = subprocess.Popen(
            [sys.executable, "-m", "services.console.main", "--data-dir", str(settings.data_dir),
             "--key-dir", str(settings.key_dir), "--listen", record["console"]["address"]],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True).pid
    path.write_text(json.dumps(record, indent=2))
    settings = load_settings(settings.data_dir, settings.key_dir)
    deadline = time.monotonic() + START_TIMEOUT_S
    pending = set(SERVICES)
    while pending:
        for name in sorted(pending):
            if not _alive(record["services"][name]["pid"]):
                down(settings)
                raise DeploymentError(f"service {name} exited at start-up; see logs/{name}.log")
            if health(settings, keys, name, timeout=1.0) == "SERVING":
                pending.discard(name)
                progress(f"{name} SERVING after {time.monotonic() - started:.1f} s")
        if pending and time.monotonic() > deadline:
            down(settings)
            raise DeploymentError(f"services not healthy in time: {', '.join(sorted(pending))}")
        if pending:
            time.sleep(0.3)
    while console_status(settings, record["console"])["health"] != "SERVING":
        if not _alive(record["console"]["pid"]) or time.monotonic() > deadline:
            down(settings)
            raise DeploymentError("the console did not start; see logs/console.log")
        time.sleep(0.2)
    progress(f"console SERVING after {time.monotonic() - started:.1f} s")
    return record


def down(settings: Settings, timeout: float = 20.0) -> list[str]:
    """Stop the recorded services (SIGTERM, then SIGKILL after ``timeout``); returns their names."""
    record = read_deployment(settings)
    if not record:
        return []
    pids = {n: s["pid"] for n, s in record["services"].items() if s.get("pid")}
    if record.get("console", {}).get("pid"):
        pids["console"] = record["console"]["pid"]
    for pid in pids.values():
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids.values():
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    (settings.data_dir / DEPLOYMENT_FILE).unlink(missing_ok=True)
    return sorted(pids)


def status(settings: Settings) -> list[dict[str, Any]]:
    """Each service: name, address, pid, health and event count."""
    record = read_deployment(settings)
    if not record:
        raise DeploymentError("no deployment in this data dir; run `lethe up`")
    keys = FileKeySource(settings.key_dir)
    peers = Peers(settings, keys, "operator")
    out = []
    try:
        for name in SERVICES:
            info = record["services"][name]
            state = health(settings, keys, name)
            events = None
            if state == "SERVING":
                stub = events_pb2_grpc.EventLogServiceStub(peers.channel(name))
                events = stub.GetLogInfo(events_pb2.GetLogInfoRequest(), timeout=5).size
            out.append({"service": name, "address": info["address"], "pid": info["pid"],
                        "health": state, "events": events})
    finally:
        peers.close()
    if record.get("console"):
        out.append(console_status(settings, record["console"]))
    return out


def console_status(settings: Settings, info: dict[str, Any]) -> dict[str, Any]:
    """The console's row: health (its /healthz) and ``url``, a one-time login link for local use."""
    address = info["address"]
    try:
        with urllib.request.urlopen(f"http://{address}/healthz", timeout=2) as resp:  # noqa: S310
            state = "SERVING" if resp.status == 200 else "NOT_SERVING"
    except OSError:
        state = "UNREACHABLE"
    token_file = settings.data_dir / "console" / address.rpartition(":")[2] / "login-token"
    token = token_file.read_text().strip() if token_file.exists() else ""
    return {"service": "console", "address": address, "pid": info["pid"], "health": state,
            "events": None, "url": f"http://{address}/login?token={token}" if token else f"http://{address}/"}


def connect(data_dir: str | os.PathLike[str] | None, key_dir: str | os.PathLike[str] | None,
            identity: str = "operator") -> tuple[Settings, FileKeySource, Peers]:
    """Settings, key source and channels as ``identity`` (a certificate in the key dir: operator,
    client, sweeper, auditor, ...) for a running deployment.

    Raises DeploymentError when no deployment is recorded in the data dir.
    """
    settings = load_settings(data_dir, key_dir)
    if read_deployment(settings) is None and not settings.peers:
        raise DeploymentError(f"no deployment in {settings.data_dir} and no LETHE_<SERVICE>_ADDRESS; "
                              "run `lethe up` first")
    keys = FileKeySource(settings.key_dir)
    return settings, keys, Peers(settings, keys, identity)
