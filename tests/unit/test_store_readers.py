"""SqlStore.read: lookups on reader connections never wait behind another thread's commit, never
see a transaction before it commits, see it once committed, and inside a transaction of their own
thread see its uncommitted writes; on SQLite and PostgreSQL, past the reader pool's size."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from shared.config import Settings
from shared.store import SqlStore, open_store

PG = {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres",
      "POSTGRES_DBNAME": "test"}


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
        (tmp_path / "var" / "test").mkdir(parents=True)
    else:
        settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys", persistence="postgres",
                            postgres=PG, schema_prefix=f"t{uuid.uuid4().hex[:10]}")
    s = open_store(settings, "test", "readers")
    s.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
    try:
        yield s
    finally:
        s.close()
        if request.param == "postgres":
            with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as db:
                db.execute(f'DROP SCHEMA IF EXISTS "{settings.schema("test")}" CASCADE')


def test_a_read_does_not_wait_for_a_commit_in_progress_and_sees_only_committed_rows(store: SqlStore) -> None:
    store.execute("INSERT INTO kv VALUES (?, ?)", ("old", "1"))
    inside, release = threading.Event(), threading.Event()
    seen: dict[str, list[tuple[str, ...]]] = {}

    def writer() -> None:
        with store.transaction() as tx:
            tx.execute("INSERT INTO kv VALUES (?, ?)", ("new", "2"))
            seen["own"] = tx.read("SELECT v FROM kv WHERE k=?", ("new",))
            inside.set()
            release.wait(60)

    during: list[list[tuple[str, ...]]] = []

    def reader() -> None:  # runs while the writer holds the store's lock
        during.extend(store.read("SELECT k FROM kv ORDER BY k") for _ in range(5))

    w = threading.Thread(target=writer)
    w.start()
    assert inside.wait(60)
    readers = [threading.Thread(target=reader) for _ in range(3 * store.readers)]  # more than the pool
    for r in readers:
        r.start()
    for r in readers:
        r.join(60)
    done_while_locked = not any(r.is_alive() for r in readers)
    release.set()
    w.join(60)
    for r in readers:
        r.join(60)
    assert done_while_locked, "a read waited for another thread's transaction"
    assert seen["own"] == [("2",)], "a transaction does not see its own write through read()"
    assert len(during) == 15 * store.readers, "a read was lost"
    assert all(rows == [("old",)] for rows in during), "a read saw an uncommitted row"
    assert store.read("SELECT k FROM kv ORDER BY k") == [("new",), ("old",)]


def test_many_threads_reading_and_writing_agree_with_what_was_committed(store: SqlStore) -> None:
    rng = random.Random(8)
    keys = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(120)]
    errors: list[str] = []

    def work(part: list[str]) -> None:
        for k in part:
            with store.transaction() as tx:
                tx.execute("INSERT INTO kv VALUES (?, ?)", (k, k[::-1]))
            if store.read("SELECT v FROM kv WHERE k=?", (k,)) != [(k[::-1],)]:
                errors.append("a committed row was not read back")

    threads = [threading.Thread(target=work, args=(keys[n::12],)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert sorted(r[0] for r in store.read("SELECT k FROM kv")) == sorted(keys)


def test_after_close_reads_use_the_writer_and_fail_as_it_does(store: SqlStore) -> None:
    store.read("SELECT COUNT(*) FROM kv")  # a reader is open
    store.close()
    with pytest.raises(Exception):
        store.read("SELECT COUNT(*) FROM kv")
