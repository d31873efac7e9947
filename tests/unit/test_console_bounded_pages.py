"""Console pages read a bounded part of the logs, whatever their size.

A real rights application (SQLite) with more than 100,000 events in its log, served by the real
gRPC server (servicer, event log service, signed tree heads), and the console's real pages and
backend calling it. A client interceptor counts every call and every streamed event the console
receives: the request queue, a request with its evidence and the recipients page each read a
number of events and requests bounded by their page size, not by the log. The vault's registry
(``ListRecipients``) and the holds are not part of this test and answer empty lists; every
service's log is the one large log (for the Subject page's index, rights' and retention's only).
"""

from __future__ import annotations

import collections
import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from starlette.testclient import TestClient

from services.console import auth
from services.console.app import Console, create_app
from services.console.backend import LOG_WINDOW, PAGE_SIZE, Backend
from services.console.folds import BUDGET
from services.rights.application import RightsApplication
from services.rights.domain import DataSubjectRequest
from services.rights.servicer import RightsServicer
from shared.config import Settings
from shared.gen.lethe.v1 import events_pb2, events_pb2_grpc, rights_pb2, rights_pb2_grpc
from shared.keysource import FileKeySource
from shared.server import create_server
from tests.unit.test_rights_rules import FakeDownstream

EVENTS = 100_000
EMPTY = {"ingestion", "anonymization", "vault"}  # for the subject index: only two large logs
UTC = dt.timezone.utc


class Counting(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Counts calls per method and the messages streamed back."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.streamed = 0

    def reset(self) -> None:
        self.calls.clear()
        self.streamed = 0

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:  # noqa: D102
        self.calls[details.method.rsplit("/", 1)[1]] += 1
        return continuation(details, request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:  # noqa: D102
        self.calls[details.method.rsplit("/", 1)[1]] += 1
        responses = continuation(details, request)

        def counted() -> Iterator[Any]:
            for r in responses:
                self.streamed += 1
                yield r
        return counted()


class LocalBackend(Backend):
    """The console's backend on one local server (no TLS), through the counting interceptor."""

    def __init__(self, settings: Settings, keys: FileKeySource, address: str, counter: Counting) -> None:
        self.settings, self.keys = settings, keys
        self.channel = grpc.intercept_channel(grpc.insecure_channel(address), counter)
        self.rights = rights_pb2_grpc.RightsServiceStub(self.channel)

    def logs(self, service: str) -> Any:  # noqa: D102
        return events_pb2_grpc.EventLogServiceStub(self.channel)

    def recipients(self) -> list[Any]:  # noqa: D102
        return []

    def holds(self, include_released: bool = True) -> list[Any]:  # noqa: D102
        return []

    def log_size(self, service: str) -> int:  # noqa: D102
        return 0 if service in EMPTY else super().log_size(service)

    def read_log_after(self, service: str, after: int, limit: int) -> list[Any]:  # noqa: D102
        return [] if service in EMPTY else super().read_log_after(service, after, limit)

    def close(self) -> None:  # noqa: D102
        self.channel.close()


@pytest.fixture(scope="module")
def large_log(tmp_path_factory: pytest.TempPathFactory,
              ) -> Iterator[tuple[TestClient, Counting, RightsApplication]]:
    root = tmp_path_factory.mktemp("bounded")
    settings = Settings(data_dir=root / "var", key_dir=root / "keys", tls=False)
    keys = FileKeySource(settings.key_dir)
    down = FakeDownstream()
    app = RightsApplication(settings, keys, down, lambda: down.log, lambda: down.retention_log)
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    batch = []
    for i in range(EVENTS // 3 + 1):  # three events each: received, verified, started
        received = start + dt.timedelta(minutes=i)
        r = DataSubjectRequest(request_id=f"req-{i:06d}", kind="access",
                               subject_ref=app.resolve_subject(f"acct-bulk-{i}"),
                               law="gdpr", received_at=received,
                               due_at=received + dt.timedelta(days=30), purpose="")
        r.verify(method="operator_attested")
        r.start()
        batch.append(r)
        if len(batch) == 1000:
            app.save(*batch)
            batch = []
    app.save(*batch)
    assert app.max_position() > EVENTS

    def register(server: grpc.Server) -> list[str]:
        rights_pb2_grpc.add_RightsServiceServicer_to_server(RightsServicer(app), server)
        return [rights_pb2.DESCRIPTOR.services_by_name["RightsService"].full_name]

    server, port, _ = create_server("rights", settings, keys, app, register)
    counter = Counting()
    backend = LocalBackend(settings, keys, f"127.0.0.1:{port}", counter)
    backend.logs("rights").GetSignedTreeHead(events_pb2.GetSignedTreeHeadRequest(), timeout=600)
    console = Console(backend, root / "console")
    client = TestClient(create_app(console))
    sid, session = console.sessions.start()
    client.cookies.set(auth.COOKIE, sid)
    client.csrf, client.console = session.csrf, console  # type: ignore[attr-defined]
    yield client, counter, app
    client.close()
    backend.close()
    server.stop(None)
    app.close()


def test_the_request_queue_reads_one_page_of_requests_and_no_events(large_log) -> None:
    client, counter, app = large_log
    loads = []
    get = app._get
    app._get = lambda r: (loads.append(r), get(r))[1]  # type: ignore[method-assign]
    try:
        seen: list[str] = []
        url = "/requests"
        for _ in range(3):  # the first pages, by their next links
            counter.reset()
            loads.clear()
            page = client.get(url)
            assert page.status_code == 200
            rows = re.findall(r'href="/requests/(req-\d+)"', page.text)
            assert len(rows) == PAGE_SIZE and len(loads) == PAGE_SIZE
            assert counter.streamed == 0 and dict(counter.calls) == {"ListRequests": 1}
            assert f"{EVENTS // 3 + 1} open requests" in page.text
            seen += rows
            url = re.search(r'rel="next" href="([^"]+)"', page.text).group(1).replace("&amp;", "&")
        assert len(set(seen)) == 3 * PAGE_SIZE  # pages do not repeat each other
    finally:
        del app._get


def test_a_request_and_its_evidence_read_only_its_own_events(large_log) -> None:
    client, counter, _ = large_log
    for rid in ("req-000000", "req-020000", f"req-{EVENTS // 3:06d}"):
        counter.reset()
        page = client.get(f"/requests/{rid}")
        assert page.status_code == 200 and "IdentityVerified" in page.text
        assert counter.streamed == 3 and counter.calls["ReadEvents"] == 3
        counter.reset()
        doc = client.get(f"/requests/{rid}/evidence.json").json()
        assert [e["event"] for e in doc["events"]] == ["RequestReceived", "IdentityVerified",
                                                       "ProcessingStarted"]
        assert counter.streamed == 3


def test_the_recipients_page_reads_one_window_of_the_log(large_log) -> None:
    client, counter, app = large_log
    size = app.max_position()
    counter.reset()
    page = client.get("/recipients")
    assert page.status_code == 200 and counter.streamed == LOG_WINDOW
    assert f"events {size - LOG_WINDOW + 1} to {size}" in page.text
    older = re.search(r'href="/recipients\?upto=(\d+)"', page.text).group(1)
    assert int(older) == size - LOG_WINDOW
    counter.reset()
    page = client.get(f"/recipients?upto={older}")
    assert counter.streamed == LOG_WINDOW
    assert f"events {size - 2 * LOG_WINDOW + 1} to {size - LOG_WINDOW}" in page.text
    counter.reset()
    first = client.get("/recipients?upto=7")
    assert counter.streamed == 7 and "Earlier events" not in first.text
    for bad in ("-5", "x", str(10 * size)):
        counter.reset()
        assert client.get(f"/recipients?upto={bad}").status_code == 200
        assert counter.streamed == LOG_WINDOW


def test_retention_and_records_read_at_most_a_budget_of_new_events_per_load(large_log) -> None:
    client, counter, app = large_log
    size = app.max_position()
    reads = []
    while True:
        counter.reset()
        page = client.get("/retention")
        assert page.status_code == 200 and counter.streamed <= BUDGET
        reads.append(counter.streamed)
        if "reload for the rest" not in page.text:
            break
        assert f"Read {sum(reads)} of the {size} events" in page.text
    assert sum(reads) == size and len(reads) == -(-size // BUDGET)  # each event read once
    counter.reset()
    assert client.get("/retention").status_code == 200 and counter.streamed == 0
    doc = client.get("/records.json").json()
    assert counter.streamed == 0 and doc["retention_log_read"] == {"position": size, "size": size}


def test_the_subject_timeline_reads_only_the_subject_s_events_once_indexed(large_log) -> None:
    client, counter, app = large_log
    client.console.subjects.budget = 50_000  # bounds each load; fewer loads for the test
    size = app.max_position()
    assert client.post("/subject/find", data={"csrf": client.csrf, "account_id": "acct-bulk-7"},
                       follow_redirects=False).status_code == 303
    reads = []
    while True:
        counter.reset()
        page = client.get("/subject")
        assert page.status_code == 200 and counter.streamed <= 50_000 + 6
        reads.append(counter.streamed)
        if "still being indexed" not in page.text:
            break
    assert len(reads) == -(-2 * size // 50_000)
    counter.reset()
    page = client.get("/subject")
    assert counter.streamed == 6  # its three events, in rights' and in retention's log (the same log)
    assert page.text.count("IdentityVerified") == 2 and "acct-bulk-7" not in page.text
    assert counter.calls["ReadEvents"] == 2 and counter.calls["ResolveSubject"] == 1
