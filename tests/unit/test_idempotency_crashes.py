"""The idempotency store's contract under crashes, a read-only database and a crowd.

* A process binding ids from 16 threads (SQLite and PostgreSQL) (new ids, and shared ids with one of two generated
  digests) is SIGKILLed at a random moment, four times over one file: after each restart every id
  it reported bound is bound to the digest it reported, every id it reported refused is bound to
  another digest, and the file opens again.
* A writer that can no longer write (a read-only connection, as on a read-only volume): bound ids
  still answer (a retry passes, another request is refused), a new id fails with the database's
  error, never as bound.
* PostgreSQL backends (readers, writer, both) killed between binds: another request with a bound
  id is refused or fails, never bound; the store recovers.
* 300 threads past the group's 256 items and the reader pool, on SQLite and PostgreSQL: per id
  exactly one digest wins and no group is larger than 256 writes.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from shared.config import Settings

from shared.idempotency import IdempotencyStore, RequestIdReused
from shared.store import SqlStore, open_store
from tests.unit.test_store_readers import PG, store  # noqa: F401 - the SqlStore fixture, both backends

METHOD = "lethe.v1.IngestionService/Ingest"
REPO = Path(__file__).resolve().parents[2]
HANG = 60.0  # a liveness guard, not a timing assertion
BINDER = """
import os, random, sys, threading
sys.path.insert(0, {repo!r})
from shared.config import Settings
from shared.idempotency import IdempotencyStore, RequestIdReused
from shared.store import SqlStore, open_store
store = IdempotencyStore({opener})
os.write(1, b"ready\\n")
def work(n):
    rng = random.Random({seed} * 100 + n)
    for k in range(100000):
        rid = f"shared-{{rng.randrange(40)}}" if k % 2 else f"{seed}-{{n}}-{{k}}"
        digest = f"d{{rng.randrange(2)}}"
        try:
            store.bind("client", {method!r}, rid, digest)
            os.write(1, f"ok {{rid}} {{digest}}\\n".encode())
        except RequestIdReused:
            os.write(1, f"no {{rid}} {{digest}}\\n".encode())
for t in [threading.Thread(target=work, args=(n,)) for n in range(16)]:
    t.start()
"""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sigkill_during_group_commits_loses_no_reported_binding(tmp_path: Path, backend: str) -> None:
    path = tmp_path / "idempotency.db"
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys", persistence="postgres",
                        postgres=PG, schema_prefix=f"t{uuid.uuid4().hex[:10]}")
    opener = (f"SqlStore({str(path)!r})" if backend == "sqlite" else
              f"open_store(Settings(data_dir={str(tmp_path)!r}, key_dir={str(tmp_path)!r}, "
              f"persistence='postgres', postgres={PG!r}, schema_prefix={settings.schema_prefix!r}), "
              "'test', 'idempotency')")
    rng = random.Random(5)
    reported: list[tuple[str, str, str]] = []
    try:
        for seed in range(4):
            script = BINDER.format(repo=str(REPO), opener=opener, seed=seed, method=METHOD)
            proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=tmp_path)
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"ready\n"
            assert proc.stdout.readline()  # binding under way
            time.sleep(rng.random() * 0.3)
            os.kill(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate(timeout=HANG)
            assert proc.returncode == -signal.SIGKILL
            lines = [line.split() for line in out.decode().splitlines()]
            reported.extend((v, rid, digest) for v, rid, digest in lines if v in ("ok", "no"))
            bound = _bound(path, backend, settings.schema("test"))
            for verdict, rid, digest in reported:
                assert rid in bound, f"{rid} was reported {verdict} but is not bound after the kill"
                assert (bound[rid] == digest) == (verdict == "ok"), (verdict, rid, digest, bound[rid])
        assert len(reported) > 100
    finally:
        if backend == "postgres":
            with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as db:
                db.execute(f'DROP SCHEMA IF EXISTS "{settings.schema("test")}" CASCADE')


def _bound(path: Path, backend: str, schema: str) -> dict[str, str]:
    """request_id -> digest, read by a fresh connection (as after a restart)."""
    sql = "SELECT request_id, digest FROM request_digests"
    if backend == "sqlite":
        return dict(sqlite3.connect(path).execute(sql).fetchall())
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as db:
        return dict(db.execute(sql.replace("request_digests", f'"{schema}".request_digests')).fetchall())


def test_a_writer_that_cannot_write_fails_new_ids_and_still_answers_bound_ones(tmp_path: Path) -> None:
    path = tmp_path / "idempotency.db"
    sql = SqlStore(str(path))
    store = IdempotencyStore(sql)
    store.bind("client", METHOD, "bound", _digest("a"))
    sql._db.close()
    sql._db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False,
                              isolation_level=None)
    for _ in range(sql.readers + 2):
        store.bind("client", METHOD, "bound", _digest("a"))  # a retry passes
        with pytest.raises(RequestIdReused):
            store.bind("client", METHOD, "bound", _digest("b"))
        with pytest.raises(sqlite3.OperationalError):
            store.bind("client", METHOD, "new", _digest("a"))
        with pytest.raises(sqlite3.OperationalError):
            store.put("client", METHOD, "bound", b"answer")
    assert store.get("client", METHOD, "bound") is None
    assert sqlite3.connect(path).execute("SELECT request_id FROM request_digests").fetchall() == [("bound",)]


def test_a_crowd_past_the_group_size_and_the_reader_pool_keeps_one_request_per_id(
        store: SqlStore) -> None:  # noqa: F811 - the fixture
    idem = IdempotencyStore(store)
    coalescer, run = idem._writes, idem._writes.run
    sizes: list[int] = []
    queued = [0]

    def gated(writes: list[object]) -> object:  # the first group waits until 260 writes queue
        if not sizes:
            deadline = time.monotonic() + HANG
            while len(coalescer._queue) < 260 and time.monotonic() < deadline:
                time.sleep(0.001)
            queued[0] = len(coalescer._queue)
        sizes.append(len(writes))
        return run(writes)  # type: ignore[arg-type]

    coalescer.run = gated  # type: ignore[assignment]
    rng = random.Random(11)
    plan = [(f"id-{rng.randrange(30)}", _digest(str(rng.randrange(3)))) for _ in range(300)]
    outcomes: list[tuple[str, str, bool]] = []
    barrier = threading.Barrier(len(plan))

    def call(rid: str, digest: str) -> None:
        barrier.wait(HANG)
        try:
            idem.bind("client", METHOD, rid, digest)
            outcomes.append((rid, digest, True))
        except RequestIdReused:
            outcomes.append((rid, digest, False))

    threads = [threading.Thread(target=call, args=p) for p in plan]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG)
    assert not any(t.is_alive() for t in threads)
    bound = dict(store.read("SELECT request_id, digest FROM request_digests"))
    assert len(outcomes) == len(plan) and set(bound) == {rid for rid, _ in plan}
    for rid, digest, ok in outcomes:
        assert ok == (bound[rid] == digest)
    assert queued[0] >= 260, "the crowd never queued past one group"
    assert max(sizes) == 256  # a full group, and none larger


@pytest.mark.parametrize("victims", ["readers", "writer", "both"])
def test_killed_postgres_backends_never_let_another_request_through(tmp_path: Path, victims: str) -> None:
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys", persistence="postgres",
                        postgres=PG, schema_prefix=f"t{uuid.uuid4().hex[:10]}")
    sql = open_store(settings, "test", "idempotency")
    try:
        idem = IdempotencyStore(sql)
        for n in range(3):
            idem.bind("client", METHOD, f"id-{n}", _digest("a"))
            readers = [r.info.backend_pid for r in sql._readers]
            with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as db:
                for pid in {"readers": readers, "writer": [sql._db.info.backend_pid],
                            "both": [*readers, sql._db.info.backend_pid]}[victims]:
                    db.execute("SELECT pg_terminate_backend(%s)", (pid,))
            for _ in range(sql.readers + 1):  # another request: refused or an error, never bound
                with pytest.raises((RequestIdReused, psycopg.OperationalError)):
                    idem.bind("client", METHOD, f"id-{n}", _digest("b"))
            with pytest.raises(RequestIdReused):  # recovered
                idem.bind("client", METHOD, f"id-{n}", _digest("b"))
            try:
                idem.bind("client", METHOD, f"new-{n}", _digest("a"))  # may meet the dead writer
            except psycopg.OperationalError:
                idem.bind("client", METHOD, f"new-{n}", _digest("a"))
            idem.bind("client", METHOD, f"new-{n}", _digest("a"))  # a retry passes
    finally:
        sql.close()
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as db:
            db.execute(f'DROP SCHEMA IF EXISTS "{settings.schema("test")}" CASCADE')
