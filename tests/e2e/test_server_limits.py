"""No caller can exhaust a server's threads or streams, and refusal floods write few events.

A real server (``create_server``, mutual TLS, the plaintext probe port) runs in-process. One
identity opens many health ``Watch`` streams on the main port and on the probe port; calls from
another identity must still answer about as fast as before (a ratio against a baseline measured in
the same test, no absolute times). A flood of refused calls must write few ``CallRefused`` events
whose counts add up to the calls refused.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shared.app import LetheApplication
from shared.authz import Authorizer
from shared.concurrency import MAX_CALLS_PER_IDENTITY, MAX_STREAMS_PER_IDENTITY, MAX_WORKERS
from shared.config import Settings
from shared.gen.lethe.v1 import events_pb2, events_pb2_grpc, vault_pb2
from shared.keysource import FileKeySource
from shared.server import create_server
from shared.tls import IDENTITIES, ensure_local_pki, secure_channel

SERVICE = "vault"
SLOWER = 50  # generous: a call may be this many times slower than its baseline, not blocked
WATCH = "/grpc.health.v1.Health/Watch"
CHECK = "/grpc.health.v1.Health/Check"
DISCLOSE = "/lethe.v1.VaultService/Disclose"


class _App(LetheApplication):
    service = SERVICE


class FakeVault:
    """A stand-in ``Disclose`` behind the real interceptor: ``purpose="slow"`` waits for ``gate``."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.runs: list[vault_pb2.DiscloseRequest] = []
        self.waiting = 0

    def disclose(self, request: vault_pb2.DiscloseRequest, context: Any) -> Any:
        if request.purpose == "slow":
            self.waiting += 1
            self.gate.wait(60)
            self.waiting -= 1
        self.runs.append(request)
        return vault_pb2.DiscloseResponse(released=True)

    def register(self, server: grpc.Server) -> list[str]:
        handler = grpc.unary_unary_rpc_method_handler(
            self.disclose, vault_pb2.DiscloseRequest.FromString,
            vault_pb2.DiscloseResponse.SerializeToString)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "lethe.v1.VaultService", {"Disclose": handler}),))
        return []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("limits")
    settings = Settings(data_dir=root / "var", key_dir=root / "keys", refusal_window_s=3600)
    keys = FileKeySource(settings.key_dir)
    ensure_local_pki(keys)
    app = _App(settings, keys)
    probe = f"127.0.0.1:{_free_port()}"
    vault = FakeVault()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LETHE_HEALTH_ADDRESS", probe)
        srv, port, _health = create_server(SERVICE, settings, keys, app, vault.register)
    yield {"app": app, "keys": keys, "address": f"127.0.0.1:{port}", "probe": probe,
           "server": srv, "vault": vault}
    vault.gate.set()
    srv.stop(0)
    srv.probe.stop(0)
    app.close()


def _allowed(method: str) -> list[str]:
    authorizer = Authorizer(lambda *a: None, service=SERVICE)
    return [i for i in IDENTITIES if authorizer.allowed(method, i)]


def _channel(server: dict[str, Any], identity: str) -> grpc.Channel:
    return secure_channel(server["address"], server["keys"], identity, SERVICE)


def _latency(call: Callable[[], Any], times: int = 7) -> float:
    """Median seconds of ``times`` calls (each must succeed within its own deadline)."""
    spent = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        spent.append(time.perf_counter() - start)
    return statistics.median(spent)


def _open_watches(channel: grpc.Channel, n: int) -> tuple[list[Any], list[grpc.StatusCode]]:
    """Open ``n`` Watch streams; returns (streams that answered, codes of those refused)."""
    watch = health_pb2_grpc.HealthStub(channel).Watch
    opened, refused = [], []
    for _ in range(n):
        stream = watch(health_pb2.HealthCheckRequest(service=""), timeout=60)
        try:
            next(stream)
            opened.append(stream)
        except grpc.RpcError as exc:
            refused.append(exc.code())
    return opened, refused


@pytest.mark.parametrize("n", [2, MAX_STREAMS_PER_IDENTITY + 1, MAX_WORKERS])
def test_watch_streams_of_one_identity_do_not_block_other_callers(server: dict[str, Any],
                                                                  n: int) -> None:
    watcher, other = _allowed(WATCH)[0], _allowed(CHECK)[-1]
    assert watcher != other
    check = health_pb2_grpc.HealthStub(_channel(server, other)).Check
    baseline = _latency(lambda: check(health_pb2.HealthCheckRequest(), timeout=10))
    opened, refused = _open_watches(_channel(server, watcher), n)
    try:
        assert len(opened) == min(n, MAX_STREAMS_PER_IDENTITY)
        assert set(refused) <= {grpc.StatusCode.RESOURCE_EXHAUSTED}
        loaded = _latency(lambda: check(health_pb2.HealthCheckRequest(), timeout=10))
        assert loaded < SLOWER * max(baseline, 1e-3), (baseline, loaded)
    finally:
        for stream in opened:
            stream.cancel()
    time.sleep(0.2)  # cancelled streams free their slots
    again, _ = _open_watches(_channel(server, watcher), 1)
    assert len(again) == 1
    again[0].cancel()


@pytest.mark.parametrize("n", [2, 8, MAX_WORKERS])
def test_the_probe_port_serves_check_and_refuses_watch(server: dict[str, Any], n: int) -> None:
    channel = grpc.insecure_channel(server["probe"])
    check = health_pb2_grpc.HealthStub(channel).Check
    baseline = _latency(lambda: check(health_pb2.HealthCheckRequest(), timeout=10))
    opened, refused = _open_watches(channel, n)
    assert not opened and refused == [grpc.StatusCode.UNIMPLEMENTED] * n
    holders = [health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(),
                                                         timeout=60) for _ in range(n)]
    try:  # streams left unread on the client side hold nothing on the server either
        loaded = _latency(lambda: check(health_pb2.HealthCheckRequest(), timeout=10))
        assert loaded < SLOWER * max(baseline, 1e-3), (baseline, loaded)
        answer = check(health_pb2.HealthCheckRequest(), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        for stream in holders:
            stream.cancel()
        channel.close()


def test_a_flood_of_refused_calls_writes_few_events_that_count_every_call(
        server: dict[str, Any]) -> None:
    method = "/lethe.v1.EventLogService/GetLogInfo"
    refused_identity = next(i for i in IDENTITIES if i not in _allowed(method))
    stub = events_pb2_grpc.EventLogServiceStub(_channel(server, refused_identity))
    app = server["app"]
    before = app.max_position()
    calls = 300
    barrier = threading.Barrier(4)
    codes: list[grpc.StatusCode] = []

    def flood() -> None:
        barrier.wait()
        for _ in range(calls // 4):
            try:
                stub.GetLogInfo(events_pb2.GetLogInfoRequest(), timeout=10)
            except grpc.RpcError as exc:
                codes.append(exc.code())
    threads = [threading.Thread(target=flood) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [grpc.StatusCode.PERMISSION_DENIED] * calls
    refusals, _stop = server["server"].refusals
    refusals.flush(everything=True)
    events = [e for e in app.read_events(after=before, limit=10_000)
              if e.event_type == "CallRefused" and e.attributes["reason"] == "NOT_AUTHORIZED"
              and e.attributes["method"] == method.lstrip("/")]
    assert len(events) / calls <= 0.01
    assert sum(e.attributes["count"] for e in events) == calls
    assert {e.attributes["caller"] for e in events} == {refused_identity}


def _disclose(channel: grpc.Channel) -> Callable[..., Any]:
    return channel.unary_unary(DISCLOSE, request_serializer=vault_pb2.DiscloseRequest.SerializeToString,
                               response_deserializer=vault_pb2.DiscloseResponse.FromString)


def test_slow_calls_of_one_identity_over_its_cap_are_refused_and_others_still_answer(
        server: dict[str, Any]) -> None:
    caller, other = _allowed(DISCLOSE)[0], _allowed(CHECK)[0]
    assert caller != other
    check = health_pb2_grpc.HealthStub(_channel(server, other)).Check
    baseline = _latency(lambda: check(health_pb2.HealthCheckRequest(), timeout=10))
    disclose, vault = _disclose(_channel(server, caller)), server["vault"]
    vault.gate.clear()
    slow = vault_pb2.DiscloseRequest(purpose="slow")
    held = [disclose.future(slow, timeout=60) for _ in range(MAX_CALLS_PER_IDENTITY)]
    try:
        deadline = time.monotonic() + 30
        while vault.waiting < MAX_CALLS_PER_IDENTITY and time.monotonic() < deadline:
            time.sleep(0.05)  # until every held call runs (and holds a worker thread)
        assert vault.waiting == MAX_CALLS_PER_IDENTITY
        with pytest.raises(grpc.RpcError) as exc:
            disclose(slow, timeout=10)
        # At once, not queued: a queued call would wait behind the held ones, whose gate is still
        # closed, and end DEADLINE_EXCEEDED. (No time ratio here: the first refusal of a window
        # writes its event synchronously, so its latency is a disk write's, not a queue's.)
        assert exc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert vault.waiting == MAX_CALLS_PER_IDENTITY and not any(c.done() for c in held)
        loaded = _latency(lambda: check(health_pb2.HealthCheckRequest(), timeout=10))
        assert loaded < SLOWER * max(baseline, 1e-3), (baseline, loaded)
    finally:
        vault.gate.set()
        for call in held:
            call.exception()
    assert disclose(vault_pb2.DiscloseRequest(purpose="fast"), timeout=10).released


def test_a_request_id_reused_for_another_disclosure_is_refused_and_recorded(
        server: dict[str, Any]) -> None:
    caller = _allowed(DISCLOSE)[0]
    disclose, vault, app = _disclose(_channel(server, caller)), server["vault"], server["app"]
    first = vault_pb2.DiscloseRequest(request_id="disclose-1", recipient_id="r-1", purpose="audit",
                                      subject_ref="subj-1")
    assert disclose(first, timeout=10).released
    assert disclose(first, timeout=10).released  # a retry: the application answers it again
    runs, before = len(vault.runs), app.max_position()
    other = vault_pb2.DiscloseRequest(request_id="disclose-1", recipient_id="r-2", purpose="resale",
                                      subject_ref="subj-2")
    with pytest.raises(grpc.RpcError) as exc:
        disclose(other, timeout=10)
    assert exc.value.code() == grpc.StatusCode.ALREADY_EXISTS
    from grpc_status import rpc_status

    status = rpc_status.from_call(exc.value)
    assert status is not None and b"REQUEST_ID_REUSED" in status.details[0].value
    assert len(vault.runs) == runs, "the reused request id reached the servicer"
    refused = [e for e in app.read_events(after=before, limit=100) if e.event_type == "CallRefused"]
    assert [(e.attributes["reason"], e.attributes["count"]) for e in refused] == [
        ("REQUEST_ID_REUSED", 1)]
