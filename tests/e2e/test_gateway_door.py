"""Hostile input at the gateway's door and upstreams that fail, against the gateway's real ASGI app
(in this process, through ``httpx.ASGITransport``, so that any header bytes reach it) in front of a
real local HTTP server standing in for the model server.

What each test tries to break: a generated body (random bytes, random JSON, chat bodies with one
wrong type, NaN, lone surrogates, huge ``messages`` arrays, bodies past the size cap with or
without ``Content-Length``) or header (account and session ids with separators, control or
non-ASCII bytes) that gets anything but a 4xx, an error that quotes the input, or a refused
request that reaches the upstream or the spool; a spoofed ``X-Forwarded-For`` from an untrusted
peer that changes the recorded prefix or reaches the upstream; an upstream that dies, stalls or
answers an error status and leaves the client with a hang, a non-OpenAI error or the upstream's
own error text (which quotes the prompt), or a turn recorded other than as documented in
``services.gateway.turn``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.app import MAX_BODY_BYTES, Gateway
from services.gateway.body import MAX_MESSAGES
from services.gateway.door import ACCOUNT_ID, SESSION_ID, GatewayConfig
from services.gateway.spool import SpooledInteraction
from tests.e2e.test_gateway import FakeUpstream

pytestmark = pytest.mark.e2e
CANARY = "Canary-Quinn-078051120"  # stands for personal data in every generated text
UPPER_SNAKE = re.compile(r"[A-Z][A-Z0-9_]*")
UNTRUSTED_PEER = "198.51.100.7"
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class Recorded:
    """The recorder the app calls: keeps what it was given (a completed future each time)."""

    def __init__(self) -> None:
        self.items: list[SpooledInteraction] = []

    def __call__(self, item: SpooledInteraction, surrogates: Any, streamed: bool) -> Future[None]:
        self.items.append(item)
        done: Future[None] = Future()
        done.set_result(None)
        return done


class Door:
    """A gateway app (trusting 10.0.0.0/8 as proxies) and a way to send it one request."""

    def __init__(self, upstream: FakeUpstream, timeout_s: float = 30.0) -> None:
        self.upstream = upstream
        self.recorded = Recorded()
        config = GatewayConfig(upstream=upstream.url, upstream_timeout_s=timeout_s,
                               trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))
        self.gateway = Gateway(config, self.recorded)
        self.app = self.gateway.app()

    def post(self, content: Any, headers: dict[str, Any] | None = None, peer: str = UNTRUSTED_PEER,
             account: Any = "acct-door-1") -> httpx.Response:
        self.recorded.items.clear()  # one request per call (hypothesis reuses the fixture)

        async def go() -> httpx.Response:
            self.gateway.client = httpx.AsyncClient(timeout=httpx.Timeout(self.gateway.config.upstream_timeout_s))
            try:
                transport = httpx.ASGITransport(app=self.app, client=(peer, 40000))
                async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
                    head = {"content-type": "application/json", **({"x-lethe-account": account} if account else {}),
                            **(headers or {})}
                    return await c.post("/v1/chat/completions", content=content, headers=head)
            finally:
                await self.gateway.client.aclose()
        return asyncio.run(go())

    def forwarded(self) -> int:
        return sum(1 for s in self.upstream.seen if s["path"] == "/v1/chat/completions")


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(piece=4, delay_s=0.01) as server:
        yield server


@pytest.fixture()
def door(upstream: FakeUpstream) -> Door:
    upstream.fault = ""
    return Door(upstream)


def chat_body(text: str = f"Hello, I am {CANARY}", **extra: Any) -> bytes:
    return json.dumps({"model": "fake-1", "messages": [{"role": "user", "content": text}], **extra}).encode()


def assert_refused(door: Door, resp: httpx.Response, sent_before: int, *statuses: int) -> dict[str, Any]:
    """A 4xx (one of ``statuses`` when given), OpenAI-shaped, quoting nothing, nothing forwarded
    or recorded."""
    assert 400 <= resp.status_code < 500 and (not statuses or resp.status_code in statuses), resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "code"} and error["type"] == "invalid_request_error"
    assert UPPER_SNAKE.fullmatch(error["code"])
    assert CANARY not in resp.text
    assert door.forwarded() == sent_before and door.recorded.items == []
    return error


texts = st.text(max_size=12).map(lambda t: f"{t}{CANARY}")
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
                           max_leaves=12)
bad_messages = st.one_of(
    json_values.filter(lambda v: not isinstance(v, dict)),
    st.fixed_dictionaries({"role": texts, "content": texts}),
    st.fixed_dictionaries({"role": st.sampled_from(["user", "system"]),
                           "content": st.one_of(st.integers(), st.booleans(), st.dictionaries(texts, texts, min_size=1),
                                                st.lists(st.one_of(texts, st.integers()), min_size=1))}),
    st.fixed_dictionaries({"role": st.just("user"),
                           "content": st.lists(st.fixed_dictionaries({"type": st.just("text"),
                                                                      "text": st.integers() | st.none()}), min_size=1)}))
good_messages = st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant"]), "content": texts})


@st.composite
def bad_chat_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A chat body with exactly one kind of fault: bad messages, or a good one with a bad field."""
    good = draw(st.lists(good_messages, max_size=3)) + [{"role": "user", "content": f"hi {CANARY}"}]
    kind = draw(st.sampled_from(["message", "messages", "stream", "model"]))
    if kind == "message":
        bad = draw(st.lists(bad_messages, min_size=1, max_size=3))
        return {"model": "m", "messages": draw(st.permutations(good + bad))}
    if kind == "messages":
        return {"model": "m", "messages": draw(json_values.filter(lambda v: not isinstance(v, list) or v == []))}
    if kind == "stream":
        return {"model": "m", "messages": good, "stream": draw(json_values.filter(lambda v: not isinstance(v, bool)))}
    return {"model": draw(json_values.filter(lambda v: not isinstance(v, str))), "messages": good}


@SETTINGS
@given(raw=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_random_bytes_and_json_are_refused(door: Door, raw: bytes) -> None:
    before = door.forwarded()
    assert_refused(door, door.post(raw), before, 400)


@SETTINGS
@given(body=bad_chat_bodies())
def test_chat_bodies_with_a_wrong_type_are_refused(door: Door, body: dict[str, Any]) -> None:
    before = door.forwarded()
    assert_refused(door, door.post(json.dumps(body).encode()), before, 400)


@pytest.mark.parametrize("raw", [
    b'{"model": "m", "temperature": NaN, "messages": [{"role": "user", "content": "hi ' + CANARY.encode() + b'"}]}',
    b'{"model": "m", "messages": [{"role": "user", "content": "\\ud800 ' + CANARY.encode() + b'"}]}',
    b'{"model": "m", "messages": [{"role": "user", "content": "' + CANARY.encode() + b' \xff\xfe"}]}',
    b'{"model": "m", "messages": [{"role": "assistant", "content": "' + CANARY.encode() + b'"}]}',
    b'[' * 100_000 + b']' * 100_000,
])
def test_nan_lone_surrogates_bad_utf8_deep_nesting_and_no_turn_are_refused(door: Door, raw: bytes) -> None:
    assert_refused(door, door.post(raw), door.forwarded(), 400)


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(MAX_MESSAGES + 1, 4 * MAX_MESSAGES))
def test_huge_messages_arrays_are_refused(door: Door, n: int) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": f"{i} {CANARY}"} for i in range(n)]}
    error = assert_refused(door, door.post(json.dumps(body).encode()), door.forwarded(), 413)
    assert error["code"] == "TOO_MANY_MESSAGES"


def test_bodies_past_the_cap_are_refused_with_or_without_content_length(door: Door) -> None:
    big = chat_body("x" * (MAX_BODY_BYTES + 1))
    assert_refused(door, door.post(big), door.forwarded(), 413)

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the cap counts the bytes read
        for _ in range(MAX_BODY_BYTES // (1 << 20) + 2):
            yield b" " * (1 << 20)

    assert_refused(door, door.post(chunked()), door.forwarded(), 413)
    prompt = chat_body("y" * (300 * 1024))  # a turn ingestion could not take: refused, not lost later
    assert assert_refused(door, door.post(prompt), door.forwarded(), 413)["code"] == "PROMPT_TOO_LARGE"


header_bytes = st.binary(min_size=1, max_size=300).filter(lambda b: b"\r" not in b and b"\n" not in b)


@SETTINGS
@given(account=header_bytes.filter(lambda b: not ACCOUNT_ID.fullmatch(b.decode("latin-1").strip())))
def test_account_headers_that_are_not_ids_are_refused(door: Door, account: bytes) -> None:
    resp = door.post(chat_body(), account=account)
    error = assert_refused(door, resp, door.forwarded(), 400)
    assert error["code"] in ("ACCOUNT_ID_INVALID", "ACCOUNT_MISSING")
    value = account.decode("latin-1").strip()
    assert len(value) < 4 or value not in resp.text


@SETTINGS
@given(session=header_bytes.filter(lambda b: b.decode("latin-1").strip() != ""
                                   and not SESSION_ID.fullmatch(b.decode("latin-1").strip().lower())))
def test_session_headers_not_given_by_the_gateway_are_refused(door: Door, session: bytes) -> None:
    resp = door.post(chat_body(), headers={"x-lethe-session": session})
    assert assert_refused(door, resp, door.forwarded(), 400)["code"] == "SESSION_ID_INVALID"
    value = session.decode("latin-1").strip()
    assert len(value) < 4 or value not in resp.text


@SETTINGS
@given(account=st.from_regex(ACCOUNT_ID, fullmatch=True).map(lambda a: f"acct-{a}"[:256]))
def test_every_well_formed_account_id_is_taken_as_given(door: Door, account: str) -> None:
    resp = door.post(chat_body(), account=account)
    assert resp.status_code == 200, resp.text
    assert [i.account_id for i in door.recorded.items] == [account]
    assert account not in json.dumps(door.upstream.seen[-1])


hops = st.lists(st.one_of(st.ip_addresses().map(str),
                          st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=20)),
                min_size=1, max_size=6)


@SETTINGS
@given(hops=hops)
def test_forwarded_for_from_an_untrusted_peer_changes_nothing(door: Door, hops: list[str]) -> None:
    spoofed = ", ".join(hops)
    resp = door.post(chat_body(), headers={"x-forwarded-for": spoofed, "x-real-ip": hops[0]})
    assert resp.status_code == 200, resp.text
    assert [i.network_prefix for i in door.recorded.items] == ["198.51.100.0/24"]
    seen = door.upstream.seen[-1]
    assert "x-forwarded-for" not in seen["headers"] and "x-real-ip" not in seen["headers"]
    assert UNTRUSTED_PEER not in json.dumps(seen)


@SETTINGS
@given(client=st.ip_addresses(v=4).map(str).filter(lambda a: not a.startswith("10.")))
def test_forwarded_for_from_a_trusted_proxy_gives_the_client_prefix_only(door: Door, client: str) -> None:
    resp = door.post(chat_body(), headers={"x-forwarded-for": f"{client}, 10.2.3.4"}, peer="10.9.9.9")
    assert resp.status_code == 200, resp.text
    want = str(ipaddress.ip_network(f"{client}/24", strict=False))
    assert [i.network_prefix for i in door.recorded.items] == [want]
    assert client not in json.dumps(door.upstream.seen[-1])


# ------------------------------------------------------------------ upstreams that fail


def sse_events(resp: httpx.Response) -> list[Any]:
    return [json.loads(line[5:]) for line in resp.text.splitlines()
            if line.startswith("data:") and line[5:].strip() != "[DONE]"]


@pytest.mark.parametrize("fault,cause,code", [("die", "upstream_failed", "UPSTREAM_FAILED"),
                                              ("stall", "upstream_timeout", "UPSTREAM_TIMEOUT")])
def test_an_upstream_failing_mid_stream_gives_an_error_event_and_records_the_part_answered(
        upstream: FakeUpstream, fault: str, cause: str, code: str) -> None:
    door = Door(upstream, timeout_s=1.0)
    upstream.fault, upstream.after = fault, 3
    try:
        resp = door.post(chat_body(stream=True))
    finally:
        upstream.fault = ""
    assert resp.status_code == 200
    events = sse_events(resp)
    pieces = "".join(c["choices"][0]["delta"].get("content") or "" for c in events[:-1])
    assert pieces == f"You said: Hello, I am {CANARY}"[:3 * upstream.piece]
    assert events[-1] == {"error": {"message": events[-1]["error"]["message"], "type": "api_error", "code": code}}
    assert CANARY not in events[-1]["error"]["message"] and "[DONE]" not in resp.text
    [item] = door.recorded.items
    assert (item.interrupted, item.response, item.prompt) == (cause, pieces, f"user: Hello, I am {CANARY}")


@pytest.mark.parametrize("status,want", [(400, 400), (404, 404), (422, 422), (429, 429), (401, 502),
                                         (500, 502), (503, 502), (418, 502)])
@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_error_status_becomes_an_openai_error_without_its_text_and_no_turn(
        upstream: FakeUpstream, door: Door, status: int, want: int, stream: bool) -> None:
    upstream.fault, upstream.status = "status", status
    try:
        resp = door.post(chat_body(stream=stream))
    finally:
        upstream.fault = ""
    assert resp.status_code == want
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "code"} and error["code"].startswith("UPSTREAM_")
    assert CANARY not in resp.text and "cannot handle" not in resp.text
    assert door.recorded.items == []


def test_an_upstream_silent_before_its_first_token_times_out_and_an_unreachable_one_is_502(
        upstream: FakeUpstream) -> None:
    door = Door(upstream, timeout_s=1.0)
    upstream.fault, upstream.after = "stall", 0
    try:
        resp = door.post(chat_body(stream=True))
    finally:
        upstream.fault = ""
    events = sse_events(resp)
    assert events[-1]["error"]["code"] == "UPSTREAM_TIMEOUT"
    [item] = door.recorded.items  # the upstream accepted the turn: recorded, with no answer
    assert (item.interrupted, item.response) == ("upstream_timeout", "")
    unreachable = Door(FakeUpstream(), timeout_s=1.0)  # never started: nothing listens
    resp = unreachable.post(chat_body())
    assert resp.status_code == 502 and resp.json()["error"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert unreachable.recorded.items == []
