"""The idempotency store's group commit: many concurrent first calls, one transaction per group,
and still one request per id.

* 64 threads race to bind the same ids, each with one of a few generated digests: per id exactly
  one digest wins, every caller with another digest is refused, and a second connection to the
  same file (as after a restart) sees every binding and first response committed.
* A group whose transaction fails (the file made read-only under it) fails its callers and binds
  nothing half-way; the next group commits.
* Fewer transactions than writes: under contention the writes are grouped.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import threading
from pathlib import Path

import pytest
from faker import Faker

from shared.idempotency import IdempotencyStore, RequestIdReused
from shared.store import SqlStore

METHOD = "lethe.v1.IngestionService/Ingest"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class CountingStore(SqlStore):
    """The real SQLite store, counting its transactions."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.transactions = 0

    def transaction(self):  # type: ignore[no-untyped-def]
        self.transactions += 1
        return super().transaction()


def test_racing_binds_leave_one_request_per_id_durably(tmp_path: Path) -> None:
    fake = Faker()
    Faker.seed(14)
    rng = random.Random(14)
    sql = CountingStore(str(tmp_path / "idempotency.db"))
    store = IdempotencyStore(sql)
    ids = [fake.uuid4() for _ in range(16)]
    bodies = [_digest(fake.sentence()) for _ in range(3)]
    outcomes: list[tuple[str, str, bool]] = []
    lock = threading.Lock()

    def caller(n: int) -> None:
        for request_id in rng.sample(ids, len(ids)):
            digest = bodies[(n + len(request_id)) % len(bodies)]
            try:
                store.bind("client", METHOD, request_id, digest)
                store.put("client", METHOD, request_id, digest.encode())
                ok = True
            except RequestIdReused:
                ok = False
            with lock:
                outcomes.append((request_id, digest, ok))

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 64 * len(ids)
    reopened = sqlite3.connect(str(tmp_path / "idempotency.db"))
    bound = dict(reopened.execute("SELECT request_id, digest FROM request_digests").fetchall())
    answers = dict(reopened.execute("SELECT request_id, response FROM idempotency").fetchall())
    assert set(bound) == set(ids)
    for request_id, digest, ok in outcomes:
        assert ok == (bound[request_id] == digest)  # the winner's body passes, any other is refused
        assert bytes(answers[request_id]).decode() == bound[request_id]
    writes = len(ids) + sum(ok for _, _, ok in outcomes)  # one bind per id, one put per success
    assert sql.transactions < writes


def test_a_failing_group_binds_nothing_and_the_next_one_commits(tmp_path: Path) -> None:
    path = tmp_path / "idempotency.db"
    sql = SqlStore(str(path))
    store = IdempotencyStore(sql)
    sql.execute("CREATE TRIGGER refuse BEFORE INSERT ON request_digests "
                "WHEN NEW.request_id LIKE 'bad-%' BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    errors: list[BaseException] = []

    def bad(n: int) -> None:
        try:
            store.bind("client", METHOD, f"bad-{n}", _digest(str(n)))
        except sqlite3.DatabaseError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=bad, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 8
    store.bind("client", METHOD, "good-1", _digest("good"))
    with pytest.raises(RequestIdReused):
        store.bind("client", METHOD, "good-1", _digest("other"))
    rows = sqlite3.connect(str(path)).execute("SELECT request_id FROM request_digests").fetchall()
    assert rows == [("good-1",)]
