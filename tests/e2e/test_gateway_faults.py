"""``lethe gateway`` under faults, as real processes with a real deployment behind: clients that
disconnect mid-stream, upstreams that die, hostile prompts against the detection budget, a spool
that turns read-only, SIGKILL at any point of a turn, ingestion failing and losing its answers.

What each test tries to break: a turn lost because the client left (or its upstream request left
running); an OpenAI client left without an error when the upstream dies; a hostile prompt that
stalls the gateway or leaves unredacted; a turn answered while it cannot be recorded; an answered
turn lost or recorded twice after a SIGKILL between accepting, spooling and delivering it; a turn
lost or stored twice when ingestion fails before or after doing its work.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tests.conftest import Deployment
from tests.e2e.test_gateway import FakeUpstream, GatewayProcess, interactions_of

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(piece=2, delay_s=0.05) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(sqlite_deployment: Deployment, upstream: FakeUpstream) -> Iterator[GatewayProcess]:
    proc = GatewayProcess(sqlite_deployment, upstream.url)
    yield proc
    proc.stop()


def gateway_events(dep: Deployment, event_type: str) -> list[dict[str, Any]]:
    from services.gateway.record import GatewayLog
    from shared.config import load_settings
    from shared.keysource import FileKeySource

    settings = load_settings(dep.data_dir, dep.key_dir)
    log = GatewayLog(settings, FileKeySource(settings.key_dir))
    try:
        return [json.loads(e.attributes_json()) for e in log.read_events() if e.event_type == event_type]
    finally:
        log.close()


def headers(account: str) -> dict[str, str]:
    return {"X-Lethe-Account": account, "Content-Type": "application/json"}


def body(question: str, stream: bool) -> dict[str, Any]:
    return {"model": "fake-1", "messages": [{"role": "user", "content": question}], "stream": stream}


def test_a_client_that_disconnects_mid_stream_has_its_part_recorded_and_the_upstream_cancelled(
        gateway: GatewayProcess, upstream: FakeUpstream, sqlite_deployment: Deployment, tmp_path: Path) -> None:
    account = "acct-gw-leaves"
    question = "Tell me a long story about " + "very " * 100 + "patient lighthouse keepers."
    total = len(f"You said: {question}") // upstream.piece  # about 270 chunks, 50 ms apart
    start = upstream.produced
    got = ""
    with httpx.Client(timeout=30) as client:
        with client.stream("POST", gateway.url + "/v1/chat/completions", json=body(question, True),
                           headers=headers(account)) as resp:
            assert resp.status_code == 200
            for line in resp.iter_lines():
                if line.startswith("data:") and '"content"' in line:
                    got += json.loads(line[5:])["choices"][0]["delta"]["content"]
                    if len(got) >= 5 * upstream.piece:
                        break  # the client goes away: the connection is closed here
    time.sleep(1.5)
    produced = upstream.produced - start
    time.sleep(1.5)
    assert upstream.produced - start == produced, "the upstream kept producing after the client left"
    assert produced < total / 4
    gateway.wait_delivered()
    [turn] = interactions_of(sqlite_deployment, account, tmp_path, 1)
    assert turn["content"]["prompt"] == f"user: {question}"
    response = turn["content"]["response"]
    assert response.startswith(got) and f"You said: {question}".startswith(response)
    assert len(got) <= len(response) < len(f"You said: {question}")
    cut = [e for e in gateway_events(sqlite_deployment, "TurnInterrupted") if e["cause"] == "client_disconnected"]
    assert cut and cut[-1]["response_chars"] == len(response)
    assert question not in json.dumps(cut)


def test_the_openai_client_gets_an_error_when_the_upstream_dies_and_the_part_is_recorded(
        gateway: GatewayProcess, upstream: FakeUpstream, sqlite_deployment: Deployment, tmp_path: Path) -> None:
    import openai  # in requirements-test.lock: the test always runs

    account = "acct-gw-upstream-dies"
    question = "What is the tallest lighthouse in the world?"
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0,
                           default_headers={"X-Lethe-Account": account})
    upstream.fault, upstream.after = "die", 4
    pieces = []
    try:
        with pytest.raises(openai.APIError) as raised:
            for chunk in client.chat.completions.create(model="fake-1", stream=True,
                                                        messages=[{"role": "user", "content": question}]):
                pieces.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    finally:
        upstream.fault = ""
    assert "model server failed" in str(raised.value) and question not in str(raised.value)
    gateway.wait_delivered()
    [turn] = interactions_of(sqlite_deployment, account, tmp_path, 1)
    assert turn["content"]["response"] == "".join(pieces) == f"You said: {question}"[:4 * upstream.piece]
    causes = [e["cause"] for e in gateway_events(sqlite_deployment, "TurnInterrupted")]
    assert "upstream_failed" in causes


def _immutable(path: Path, on: bool) -> None:
    """Make the folder ``path`` and its files unwritable, or writable again: chattr -R +i as root
    (mode bits do not stop root, and the immutable flag also stops writes through the journal
    segment the gateway holds open), else mode bits."""
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "-R", "+i" if on else "-i", str(path)], capture_output=True)
        assert done.returncode == 0, ("chattr (e2fsprogs) must work on the test's temporary folder to "
                                      "make the spool unwritable for root: " + done.stderr.decode()[:200])
    else:
        path.chmod(0o500 if on else 0o700)


def test_a_read_only_spool_refuses_new_turns_instead_of_losing_them(
        gateway: GatewayProcess, upstream: FakeUpstream, sqlite_deployment: Deployment, tmp_path: Path) -> None:
    account = "acct-gw-readonly"
    spool = sqlite_deployment.data_dir / "gateway" / "spool"
    url = gateway.url + "/v1/chat/completions"
    with httpx.Client(timeout=30) as client:
        assert client.post(url, json=body("Before, question A?", False), headers=headers(account)).status_code == 200
        gateway.wait_delivered()
        _immutable(spool, True)
        try:
            b = client.post(url, json=body("Read-only, question B?", False), headers=headers(account))
            assert b.status_code == 503 and b.json()["error"]["code"] == "SPOOL_UNAVAILABLE"
            sent = len(upstream.seen)
            c = client.post(url, json=body("Read-only, question C?", True), headers=headers(account))
            assert c.status_code == 503 and c.json()["error"]["code"] == "SPOOL_UNAVAILABLE"
            assert len(upstream.seen) == sent, "a turn that cannot be recorded went upstream"
            health = client.get(gateway.url + "/healthz")
            assert health.status_code == 503 and health.json()["status"] == "spool_unwritable"
        finally:
            _immutable(spool, False)
        time.sleep(0.5)
        d = client.post(url, json=body("Writable again, question D?", True), headers=headers(account))
        assert d.status_code == 200 and "[DONE]" in d.text
    gateway.wait_delivered()
    prompts = sorted(i["content"]["prompt"] for i in interactions_of(sqlite_deployment, account, tmp_path, 2))
    assert prompts == ["user: Before, question A?", "user: Writable again, question D?"]


def test_a_hostile_prompt_over_the_detection_budget_is_refused_and_never_stalls_the_door(
        sqlite_deployment: Deployment, tmp_path: Path) -> None:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(6)
    hostile = " ".join(fake.paragraph() for _ in range(2000))[:180_000] + " Canary-Quinn-078051120"
    account = "acct-gw-budget"
    with FakeUpstream(piece=4, delay_s=0.0) as third_party:
        proc = GatewayProcess(sqlite_deployment, third_party.url, "--forward", "redacted",
                              env={"LETHE_DETECTION_BUDGET_S": "2"})
        try:
            url = proc.url + "/v1/chat/completions"
            with httpx.Client(timeout=120) as client:
                ok = client.post(url, json=body("Mail ann.smith@example.org please.", False), headers=headers(account))
                assert ok.status_code == 200
                assert ok.json()["choices"][0]["message"]["content"] == "You said: Mail ann.smith@example.org please."
                outcome: list[httpx.Response] = []
                worker = threading.Thread(target=lambda: outcome.append(httpx.post(
                    url, json=body(hostile, True), headers=headers(account), timeout=300)))
                worker.start()
                answered = 0
                while worker.is_alive():
                    answered += client.get(proc.url + "/healthz", timeout=5).status_code == 200
                    time.sleep(0.05)
                worker.join()
                [refused] = outcome
                assert refused.status_code == 422, refused.text
                assert refused.json()["error"]["code"] == "DETECTION_BUDGET_EXCEEDED"
                assert "Canary" not in refused.text
                assert answered >= 1, "the gateway did not answer while detection ran"
                again = client.post(url, json=body("Call +1 415 555 0142 now.", False), headers=headers(account))
                assert again.status_code == 200
            proc.wait_delivered()
        finally:
            proc.stop()
    assert "Canary" not in third_party.everything_sent() and "ann.smith" not in third_party.everything_sent()
    assert len(third_party.seen) == 2
    prompts = sorted(i["content"]["prompt"] for i in interactions_of(sqlite_deployment, account, tmp_path, 2))
    assert prompts == ["user: Call +1 415 555 0142 now.", "user: Mail ann.smith@example.org please."]


def _turn(client: httpx.Client, url: str, account: str, question: str, stream: bool) -> bool:
    """One turn; True only when the whole answer arrived (and, streamed, its [DONE])."""
    want = f"You said: {question}"
    if not stream:
        resp = client.post(url, json=body(question, False), headers=headers(account))
        return resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"] == want
    text, done = "", False
    with client.stream("POST", url, json=body(question, True), headers=headers(account)) as resp:
        for line in resp.iter_lines():
            if line.strip() == "data: [DONE]":
                done = True
            elif line.startswith("data:"):
                chunk = json.loads(line[5:])
                text += "".join(c["delta"].get("content") or "" for c in chunk.get("choices", []))
    return done and text == want


def test_sigkill_anywhere_in_a_turn_loses_no_answered_turn_and_stores_none_twice(
        sqlite_deployment: Deployment, tmp_path: Path) -> None:
    from tests.e2e.test_kill_recovery import Cluster

    account = "acct-gw-sigkill"
    answered: list[str] = []
    cluster = Cluster(sqlite_deployment)
    with FakeUpstream(piece=8, delay_s=0.002) as model:
        # (seconds before the kill, ingestion up?): with ingestion down the kill finds turns
        # spooled and undelivered; with it up, turns between spooling, delivery and removal.
        for round_, (delay_s, ingestion_up) in enumerate([(1.0, False), (0.6, True), (1.4, True)]):
            if not ingestion_up:
                cluster.kill("ingestion")
            proc = GatewayProcess(sqlite_deployment, model.url)
            url, stop = proc.url + "/v1/chat/completions", threading.Event()

            def talk(client_no: int, url: str = url, stop: threading.Event = stop, round_: int = round_) -> None:
                with httpx.Client(timeout=30) as client:
                    n = 0
                    while not stop.is_set():
                        question = f"Kill round {round_}, client {client_no}, turn {n}?"
                        try:
                            if _turn(client, url, account, question, stream=n % 2 == 0):
                                answered.append(question)
                        except httpx.HTTPError:
                            return  # the gateway is gone
                        n += 1

            clients = [threading.Thread(target=talk, args=(c,)) for c in range(4)]
            for t in clients:
                t.start()
            time.sleep(delay_s)
            proc.proc.kill()
            proc.proc.wait()
            proc.log.close()
            stop.set()
            for t in clients:
                t.join(60)
            if not ingestion_up:
                cluster.start("ingestion")
        survivor = GatewayProcess(sqlite_deployment, model.url)
        try:
            assert survivor.wait_delivered(300)["spooled"] == 0
        finally:
            survivor.stop()
    assert len(answered) > 20
    interactions = interactions_of(sqlite_deployment, account, tmp_path, len(answered), timeout_s=300)
    prompts = Counter(i["content"]["prompt"] for i in interactions)
    assert [p for p, n in prompts.items() if n > 1] == [], "a turn was stored twice"
    assert [q for q in answered if prompts[f"user: {q}"] != 1] == [], "an answered turn was lost"
    responses = {i["content"]["prompt"]: i["content"]["response"] for i in interactions}
    assert all(responses[f"user: {q}"] == f"You said: {q}" for q in answered)
    spool = _spool_of(sqlite_deployment)  # adopts every segment no live gateway holds
    try:
        assert len(spool) == 0 and not list(spool.directory.glob("*.bad"))
    finally:
        spool.close()


def _spool_of(dep: Deployment) -> Any:
    from services.gateway.spool import Spool
    from shared.keysource import FileKeySource

    key = FileKeySource(dep.key_dir).get_or_create("gateway/spool")
    return Spool(dep.data_dir / "gateway" / "spool", key)


class _Fault(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


def test_delivery_through_ingestion_errors_and_lost_answers_stores_each_turn_once(
        sqlite_deployment: Deployment, tmp_path: Path) -> None:
    import datetime as dt
    import uuid

    from services.gateway.delivery import BATCH, DeliveryWorker
    from services.gateway.spool import Spool, SpooledInteraction
    from shared.clients import Peers
    from shared.config import load_settings
    from shared.gen.lethe.v1 import ingestion_pb2_grpc
    from shared.keysource import FileKeySource

    settings = load_settings(sqlite_deployment.data_dir, sqlite_deployment.key_dir)
    peers = Peers(settings, FileKeySource(settings.key_dir), "client")
    stub = ingestion_pb2_grpc.IngestionServiceStub(peers.channel("ingestion"))
    spool = Spool(tmp_path / "spool", os.urandom(32))
    account, count = "acct-gw-ingest-faults", 2 * BATCH + 22  # runs past the batch size twice
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    for n in range(count):
        spool.put(SpooledInteraction(str(uuid.uuid4()), account, uuid.uuid4().hex, "192.0.2.0/24", "ua",
                                     "EU", now, f"user: delivery fault question {n}?", f"answer {n}"))
    # before: ingestion never saw the batch; after: it did the work and the answer was lost.
    faults = ["before:INTERNAL", "after:UNAVAILABLE", "before:DEADLINE_EXCEEDED", "after:INTERNAL",
              "after:DEADLINE_EXCEEDED", "before:RESOURCE_EXHAUSTED", "after:UNAVAILABLE"]
    calls: list[str] = []

    def ingest(request: Any, timeout: float) -> Any:
        fault = faults.pop(0) if faults else "none:OK"
        calls.append(fault)
        when, code = fault.split(":")
        if when == "before":
            raise _Fault(grpc.StatusCode[code])
        response = stub.Ingest(request, timeout=timeout)
        if when == "after":
            raise _Fault(grpc.StatusCode[code])
        return response

    worker = DeliveryWorker(spool, ingest)
    worker.start()
    try:
        deadline = time.monotonic() + 180
        while len(spool) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.stop()
        peers.close()
    assert len(spool) == 0 and not faults and len(calls) >= 10
    interactions = interactions_of(sqlite_deployment, account, tmp_path, count)
    prompts = Counter(i["content"]["prompt"] for i in interactions)
    assert prompts == Counter(f"user: delivery fault question {n}?" for n in range(count))
