"""``lethe gateway`` end to end: the OpenAI client -> the gateway (a real ``lethe gateway`` process)
-> a local HTTP server standing in for the model server, with the real services behind.

What each test tries to break: the account id, the client address or its prefix reaching the
upstream; a session id that changes between turns or names the account; a gateway that buffers
the stream (the upstream holds its last chunk until the client has seen the first one); a turn
missing from the access export or stored twice; a request that fails or waits while ingestion is
down, or a turn lost or duplicated when it comes back; personal data reaching a third-party
upstream with ``--forward redacted``, or surrogates (split across chunks on purpose) left in the
client's answer.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from tests.conftest import REPO, Deployment

pytestmark = pytest.mark.e2e
CLIENT_IP = "203.0.113.77"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeUpstream:
    """A model server: records every request (raw body, headers) and answers by echoing the last
    user message, streamed in ``piece``-character chunks ``delay_s`` apart. In ``hold`` mode the
    last chunk waits until :attr:`first_seen` is set by the test (at most 20 s) and
    :attr:`released` says whether it was.

    ``fault`` breaks it on purpose: ``"die"`` drops the connection after ``after`` chunks (no end
    of the chunked body), ``"stall"`` goes silent for a minute after ``after`` chunks, ``"status"``
    answers ``status`` with an error body quoting the prompt. :attr:`produced` counts the chunks
    sent so far (all requests)."""

    def __init__(self, piece: int = 3, delay_s: float = 0.02, hold: bool = False) -> None:
        self.piece, self.delay_s, self.hold = piece, delay_s, hold
        self.fault, self.after, self.status, self.produced = "", 0, 500, 0
        self.seen: list[dict[str, Any]] = []
        self.first_seen = threading.Event()
        self.released: list[bool] = []
        self.port = free_port()
        app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"]),
                                Route("/v1/models", self.models, methods=["GET"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeUpstream:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    async def models(self, request: Request) -> JSONResponse:
        self.seen.append({"path": "/v1/models", "headers": dict(request.headers), "body": ""})
        return JSONResponse({"object": "list", "data": [{"id": "fake-1", "object": "model"}]})

    async def chat(self, request: Request) -> Any:
        raw = (await request.body()).decode("utf-8")
        self.seen.append({"path": "/v1/chat/completions", "headers": dict(request.headers), "body": raw})
        body = json.loads(raw)
        last = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
        answer = f"You said: {last}"
        if self.fault == "status":
            return JSONResponse({"error": {"message": f"cannot handle {last!r}", "type": "x",
                                           "code": "bad"}}, self.status)
        if not body.get("stream"):
            return JSONResponse({"id": "c1", "object": "chat.completion", "model": body["model"],
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": answer}}]})
        import anyio

        async def events() -> Any:
            pieces = [answer[i:i + self.piece] for i in range(0, len(answer), self.piece)]
            for n, piece in enumerate(pieces):
                if self.hold and n == len(pieces) - 1:
                    self.released.append(await anyio.to_thread.run_sync(self.first_seen.wait, 20))
                if self.fault == "die" and n == self.after:
                    raise ConnectionAbortedError("the model server died")  # uvicorn drops the connection
                if self.fault == "stall" and n == self.after:
                    await anyio.sleep(60)
                self.produced += 1
                chunk = {"id": "c1", "object": "chat.completion.chunk", "model": body["model"],
                         "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk)}\n\n"
                await anyio.sleep(self.delay_s)
            end = {"id": "c1", "object": "chat.completion.chunk", "model": body["model"],
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            yield f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n"
        return StreamingResponse(events(), media_type="text/event-stream")

    def everything_sent(self) -> str:
        """Every header and body the upstream received, as one text."""
        return json.dumps(self.seen)


class GatewayProcess:
    """``lethe gateway`` as a subprocess of a deployment; trusts 127.0.0.1 as a proxy."""

    def __init__(self, dep: Deployment, upstream: str, *extra: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        env = {**os.environ, "LETHE_DATA_DIR": str(dep.data_dir), "LETHE_KEY_DIR": str(dep.key_dir),
               **dep.env, **(env or {})}
        self.log = open(dep.data_dir / "logs" / f"gateway-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "gateway", "--upstream", upstream,
             "--listen", f"127.0.0.1:{self.port}", "--trusted-proxy", "127.0.0.1", *extra],
            env=env, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            assert self.proc.poll() is None, "gateway exited at start-up"
            assert time.monotonic() < deadline, "gateway did not start"
            try:
                httpx.get(self.url + "/healthz", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def state(self) -> dict[str, Any]:
        return httpx.get(self.url + "/healthz", timeout=5).json()

    def wait_delivered(self, timeout_s: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while (state := self.state())["spooled"] and time.monotonic() < deadline:
            time.sleep(0.3)
        return state

    def client(self, account: str) -> Any:
        openai = pytest.importorskip("openai")
        return openai.OpenAI(base_url=self.url + "/v1", api_key="client-secret-token", max_retries=0,
                             default_headers={"X-Lethe-Account": account, "X-Forwarded-For": CLIENT_IP,
                                              "Cookie": "sid=browser-cookie", "X-Real-IP": CLIENT_IP})

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(sqlite_deployment: Deployment, upstream: FakeUpstream) -> Iterator[GatewayProcess]:
    proc = GatewayProcess(sqlite_deployment, upstream.url)
    yield proc
    proc.stop()


def export(dep: Deployment, account: str, tmp: Path) -> dict[str, Any]:
    out = tmp / f"{account}.json"
    dep.lethe("rights", "access", account, "--out", str(out))
    return json.loads(out.read_text())


def interactions_of(dep: Deployment, account: str, tmp: Path, at_least: int,
                    timeout_s: float = 90) -> list[dict[str, Any]]:
    """The account's exported interactions once there are ``at_least`` (ingestion acknowledges
    once an interaction is durably queued; the vault has it a moment later), then once more after
    a pause, so that one stored twice would show."""
    deadline = time.monotonic() + timeout_s
    while len(found := export(dep, account, tmp)["interactions"]) < at_least and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1.0)
    return export(dep, account, tmp)["interactions"]


def chat(client: Any, messages: list[dict[str, str]], session: str | None = None,
         stream: bool = True) -> tuple[str, str]:
    """One turn; returns (answer, session id from the response header)."""
    headers = {"X-Lethe-Session": session} if session else {}
    if not stream:
        raw = client.chat.completions.with_raw_response.create(
            model="fake-1", messages=messages, extra_headers=headers)
        return raw.parse().choices[0].message.content, raw.headers["x-lethe-session"]
    with client.chat.completions.with_streaming_response.create(
            model="fake-1", messages=messages, stream=True, extra_headers=headers) as raw:
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        return text, raw.headers["x-lethe-session"]


def test_upstream_sees_a_stable_session_and_never_the_account_or_the_address(
        gateway: GatewayProcess, upstream: FakeUpstream, sqlite_deployment: Deployment, tmp_path: Path) -> None:
    account = "acct-gw-7f3a91"
    client = gateway.client(account)
    first = [{"role": "user", "content": "How do I bake rye bread?"}]
    answer1, session = chat(client, first)
    assert answer1 == "You said: How do I bake rye bread?"
    second = [*first, {"role": "assistant", "content": answer1},
              {"role": "user", "content": "And with sourdough?"}]
    answer2, session2 = chat(client, second, session=session, stream=False)
    assert answer2 == "You said: And with sourdough?"
    assert session2 == session and len(session) == 32 and account not in session
    assert [m.id for m in client.models.list().data] == ["fake-1"]

    turns = [s for s in upstream.seen if s["path"] == "/v1/chat/completions"][-2:]
    for seen in turns:
        assert json.loads(seen["body"])["user"] == session
        assert seen["headers"]["x-lethe-session"] == session
    sent = upstream.everything_sent()
    for secret in (account, "acct-gw", CLIENT_IP, "203.0.113", "client-secret-token", "browser-cookie"):
        assert secret not in sent
    for header in ("x-forwarded-for", "x-real-ip", "forwarded", "cookie", "authorization", "x-lethe-account"):
        assert all(header not in s["headers"] for s in upstream.seen)

    assert gateway.wait_delivered()["spooled"] == 0
    interactions = interactions_of(sqlite_deployment, account, tmp_path, 2)
    prompts = sorted(i["content"]["prompt"] for i in interactions)
    assert prompts == ["user: And with sourdough?", "user: How do I bake rye bread?"]
    assert sorted(i["content"]["response"] for i in interactions) == sorted([answer1, answer2])
    assert {i["technical_metadata"]["network_prefix"] for i in interactions} == {"203.0.113.0/24"}


def test_streamed_chunks_reach_the_client_before_the_upstream_finishes(
        gateway: GatewayProcess, upstream: FakeUpstream) -> None:
    upstream.hold, upstream.first_seen = True, threading.Event()
    try:
        client = gateway.client("acct-gw-stream")
        pieces = []
        with client.chat.completions.with_streaming_response.create(
                model="fake-1", messages=[{"role": "user", "content": "Count slowly to ten, please."}],
                stream=True) as raw:
            for chunk in raw.parse():
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
                    upstream.first_seen.set()  # the upstream sends its last chunk only now
    finally:
        upstream.hold = False
    assert upstream.released[-1] is True, "the first chunk reached the client only after the upstream ended"
    assert "".join(pieces) == "You said: Count slowly to ten, please."
    assert len(pieces) > 3


def test_requests_succeed_while_ingestion_is_down_and_arrive_once_after(
        gateway: GatewayProcess, upstream: FakeUpstream, sqlite_deployment: Deployment, tmp_path: Path) -> None:
    from tests.e2e.test_kill_recovery import Cluster

    cluster = Cluster(sqlite_deployment)
    # Earlier tests' turns may still be on their way: start from an empty spool.
    assert gateway.wait_delivered()["spooled"] == 0
    cluster.kill("ingestion")
    second = None
    try:
        account = "acct-gw-outage"
        client = gateway.client(account)
        asked = [f"Outage question number {n}?" for n in range(4)]
        for n, question in enumerate(asked):
            answer, _ = chat(client, [{"role": "user", "content": question}], stream=n % 2 == 0)
            assert answer == f"You said: {question}"
        time.sleep(1.0)
        assert gateway.state()["spooled"] == len(asked)
        # A second gateway on the same spool (e.g. a restart) delivers the same entries concurrently.
        second = GatewayProcess(sqlite_deployment, upstream.url)
    finally:
        cluster.start("ingestion")
    try:
        assert gateway.wait_delivered()["spooled"] == 0
    finally:
        if second is not None:
            second.stop()
    interactions = interactions_of(sqlite_deployment, account, tmp_path, len(asked))
    prompts = sorted(i["content"]["prompt"] for i in interactions)
    assert prompts == sorted(f"user: {q}" for q in asked)
    spool = sqlite_deployment.data_dir / "gateway" / "spool"
    on_disk = b"".join(f.read_bytes() for f in spool.iterdir() if f.is_file())
    assert on_disk and not any(q.encode() in on_disk or b"Outage question" in on_disk for q in asked), \
        "a spooled turn is on disk in clear"


def test_redacted_forwarding_hides_personal_data_upstream_and_gives_the_originals_back(
        sqlite_deployment: Deployment) -> None:
    from faker import Faker

    from services.gateway.record import GatewayLog
    from shared.config import load_settings
    from shared.keysource import FileKeySource

    fake = Faker("en_US")
    fake.seed_instance(1414)
    name, email, phone = fake.name(), fake.email(), "+1 415 555 0142"
    question = f"My name is {name}. Please write to {email} or call me at {phone}."
    with FakeUpstream(piece=2) as third_party:  # 2-character chunks split every surrogate
        proc = GatewayProcess(sqlite_deployment, third_party.url, "--forward", "redacted")
        try:
            client = proc.client("acct-gw-redacted")
            streamed, session = chat(client, [{"role": "user", "content": question}])
            whole, _ = chat(client, [{"role": "user", "content": question}], session=session, stream=False)
            proc.wait_delivered()
        finally:
            proc.stop()
    sent = third_party.everything_sent()
    for value in (name, email, phone, *name.split()):
        assert value not in sent
    bodies = [json.loads(s["body"]) for s in third_party.seen]
    assert bodies[0]["messages"] == bodies[1]["messages"]  # the same surrogates in both turns
    assert "<EMAIL_ADDRESS_" in bodies[0]["messages"][0]["content"]
    assert streamed == whole == f"You said: {question}"
    settings = load_settings(sqlite_deployment.data_dir, sqlite_deployment.key_dir)
    log = GatewayLog(settings, FileKeySource(settings.key_dir))
    try:
        events = [e for e in log.read_events() if e.event_type == "ResponseReidentified"]
    finally:
        log.close()
    assert len(events) >= 2 and all(sum(e.attributes["entity_counts"].values()) >= 3 for e in events)
    assert {e.attributes["streamed"] for e in events[-2:]} == {True, False}
    for e in events:
        assert not any(v in e.attributes_json() for v in (name, email, phone, session))


def test_a_surrogate_split_anywhere_across_chunks_is_put_back_whole() -> None:
    from services.gateway.reidentify import StreamingReidentifier, Surrogates

    surrogates = Surrogates({"<PERSON_0a1b2c3d>": "Ada Lovelace", "<EMAIL_ADDRESS_99aa88bb>": "ada@example.org"})
    text = "Hi <PERSON_0a1b2c3d>, mail <EMAIL_ADDRESS_99aa88bb> or <b>bold</b> <NOT_A_SURROGATE"
    want = "Hi Ada Lovelace, mail ada@example.org or <b>bold</b> <NOT_A_SURROGATE"
    for size in range(1, 12):
        for cut in range(size):
            stream = StreamingReidentifier(surrogates)
            pieces = [text[:cut]] + [text[i:i + size] for i in range(cut, len(text), size)]
            emitted = [stream.feed(p) for p in pieces]
            assert "".join(emitted) + stream.flush() == want
            assert not any("<PERSON_" in e or "0a1b" in e for e in emitted)


def test_forwarded_for_is_believed_only_from_a_trusted_proxy() -> None:
    import ipaddress

    from services.gateway.door import GatewayConfig, read_door, upstream_headers

    config = GatewayConfig(upstream="http://model", trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))
    headers = {"x-lethe-account": "acct-1", "x-forwarded-for": "198.51.100.9, 10.1.2.3",
               "authorization": "Bearer user-token", "cookie": "a=b", "x-real-ip": "198.51.100.9",
               "forwarded": "for=198.51.100.9", "content-type": "application/json"}
    assert read_door("10.9.9.9", headers, config).network_prefix == "198.51.100.0/24"
    assert read_door("192.0.2.1", headers, config).network_prefix == "192.0.2.0/24"
    door = read_door("10.9.9.9", headers, config)
    assert len(door.session_id) == 32
    assert read_door("10.9.9.9", {**headers, "x-lethe-session": door.session_id}, config).session_id == door.session_id
    sent = upstream_headers(headers, door.session_id, config)
    assert sent == {"content-type": "application/json", "x-lethe-session": door.session_id}
