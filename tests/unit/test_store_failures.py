"""SqlStore / PostgresStore under failures: errors surface as errors, never as a wrong answer.

* A read interrupted mid-query (KeyboardInterrupt-like) drops its reader: after more interrupts
  than the pool has readers, reads still run (no leaked reader, no hang).
* Readers open the file the store was opened on, even after the working directory changed (a
  relative path resolved late would read another database: "not bound" when bound).
* A COMMIT that fails (a deferred constraint) raises and leaves no transaction open: later writes
  are durable and readers see them.
* PostgreSQL: the reader's and the writer's backends killed (``pg_terminate_backend``) between
  reads: a lookup answers from the other connection or fails, never answers "no row"; both recover.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import psycopg
import pytest

from shared.config import Settings
from shared.store import PostgresStore, SqlStore, open_store
from tests.unit.test_store_readers import PG, store  # noqa: F401 - the fixture on both backends

HANG = 10.0  # a liveness guard, not a timing assertion


class Interrupt(BaseException):
    """Stands for KeyboardInterrupt without stopping pytest."""


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True)


def test_interrupted_reads_leak_no_reader(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.execute("INSERT INTO kv VALUES (?, ?)", ("a", "1"))
    query = store._query

    def interrupted(reader: Any, sql: str, params: Any) -> Any:
        raise Interrupt("interrupted mid-query")

    monkeypatch.setattr(store, "_query", interrupted)
    outcomes: list[str] = []
    rows: list[Any] = []

    def reads() -> None:  # in a thread: on a leak, a read waits forever for a reader
        for _ in range(store.readers + 2):
            try:
                store.read("SELECT v FROM kv WHERE k=?", ("a",))
            except Interrupt:
                outcomes.append("interrupted")
        monkeypatch.setattr(store, "_query", query)
        rows.append(store.read("SELECT v FROM kv WHERE k=?", ("a",)))

    t = threading.Thread(target=reads, daemon=True)
    t.start()
    t.join(HANG)
    assert not t.is_alive(), "a read waits forever for readers that interrupted reads leaked"
    assert outcomes == ["interrupted"] * (store.readers + 2)
    assert rows == [[("1",)]] and store._opened <= store.readers


def test_readers_open_the_stores_file_after_the_working_directory_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    other = sqlite3.connect(tmp_path / "b" / "ids.db")  # same name, another directory, empty table
    other.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
    other.commit()
    monkeypatch.chdir(tmp_path / "a")
    store = SqlStore("ids.db")
    store.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
    store.execute("INSERT INTO kv VALUES (?, ?)", ("bound", "digest"))
    monkeypatch.chdir(tmp_path / "b")
    try:
        assert store.read("SELECT v FROM kv WHERE k=?", ("bound",)) == [("digest",)]
    finally:
        store.close()


def test_a_failed_commit_leaves_no_transaction_open(tmp_path: Path) -> None:
    store = SqlStore(str(tmp_path / "fk.db"))
    store.execute("PRAGMA foreign_keys=ON")
    store.execute("CREATE TABLE p (id TEXT PRIMARY KEY)")
    store.execute("CREATE TABLE c (x TEXT REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(sqlite3.IntegrityError):
        with store.transaction() as tx:
            tx.execute("INSERT INTO c VALUES (?)", ("missing",))  # fails only at COMMIT
    store.execute("INSERT INTO p VALUES (?)", ("after",))  # autocommit: durable at once
    with store.transaction() as tx:
        tx.execute("INSERT INTO p VALUES (?)", ("next",))
    # A reader (another connection) sees both writes and none of the failed transaction.
    assert store.read("SELECT id FROM p ORDER BY id") == [("after",), ("next",)]
    assert store.read("SELECT COUNT(*) FROM c") == [(0,)]
    store.close()
    assert sqlite3.connect(tmp_path / "fk.db").execute("SELECT COUNT(*) FROM p").fetchall() == [(2,)]


def _kill(pids: list[int]) -> None:
    with _admin() as db:
        for pid in pids:
            db.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[PostgresStore]:
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys", persistence="postgres",
                        postgres=PG, schema_prefix=f"t{uuid.uuid4().hex[:10]}")
    s = open_store(settings, "test", "failures")
    assert isinstance(s, PostgresStore)
    s.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
    s.execute("INSERT INTO kv VALUES (?, ?)", ("bound", "digest"))
    try:
        yield s
    finally:
        s.close()
        with _admin() as db:
            db.execute(f'DROP SCHEMA IF EXISTS "{settings.schema("test")}" CASCADE')


def _lookup(store: PostgresStore) -> list[tuple[Any, ...]] | Exception:
    try:
        return store.read("SELECT v FROM kv WHERE k=?", ("bound",))
    except psycopg.OperationalError as exc:
        return exc


@pytest.mark.parametrize("victims", ["readers", "writer", "both"])
def test_killed_backends_give_errors_or_right_answers_and_recover(pg: PostgresStore, victims: str) -> None:
    for _ in range(3):
        assert _lookup(pg) == [("digest",)]  # a reader is open and idle
        readers = [r.info.backend_pid for r in pg._readers]
        writer = [pg._db.info.backend_pid]
        _kill({"readers": readers, "writer": writer, "both": readers + writer}[victims])
        answers = [_lookup(pg) for _ in range(pg.readers + 2)]
        assert all(a == [("digest",)] or isinstance(a, Exception) for a in answers), answers
        assert answers[-1] == [("digest",)], "the store did not recover"
        if victims == "both":  # the reader's query fell back to a dead writer: an error
            assert isinstance(answers[0], psycopg.OperationalError)
        with pytest.raises(psycopg.OperationalError) if victims == "writer" else nullcontext():
            pg.execute("INSERT INTO kv VALUES (?, ?)", (uuid.uuid4().hex, "x"))  # meets the loss
        pg.execute("INSERT INTO kv VALUES (?, ?)", ("w" + uuid.uuid4().hex, "y"))  # a new writer
        with pg.transaction() as tx:
            tx.execute("INSERT INTO kv VALUES (?, ?)", ("t" + uuid.uuid4().hex, "z"))

