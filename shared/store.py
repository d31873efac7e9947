"""Mutable tables for what must be truly deletable (ciphertext, wrapped keys) or is derived state.

Event logs are immutable, so personal data never goes into them; the vault keeps ciphertext and
wrapped DEKs here, where a purge is a real ``DELETE``. On SQLite the store runs with
``PRAGMA secure_delete=ON`` (deleted content is overwritten with zeros) and checkpoints its WAL
with ``TRUNCATE`` after deletions (:meth:`SqlStore.scrub`), so no old frame keeps deleted pages.
Erasure does not depend on this (it is crypto-shredding), it only removes residue.

SQL is written with ``?`` placeholders and portable types (TEXT, BLOB/BYTEA via :attr:`blob`,
BIGINT); the PostgreSQL store rewrites placeholders and uses one schema per service.

Writes share one connection under a lock (a commit holds it through its fsync); :meth:`SqlStore.read`
runs a query on one of up to ``readers`` reader connections (opened on first use) instead, so lookups on the request
path (an idempotency binding, a queued id) do not wait behind another call's commit. A reader sees
what was committed before the query started (SQLite WAL, PostgreSQL autocommit: READ COMMITTED);
inside a :meth:`SqlStore.transaction` on the same thread ``read`` uses the writer, so the
transaction sees its own writes. Failures surface as errors, never as another answer: a reader
that fails or is interrupted is dropped (a failed one's query goes to the writer), a failed COMMIT
rolls back, and a PostgreSQL writer the server dropped is replaced on its next use.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.config import Settings



class SqlStore:
    """A small thread-safe SQL store: ``execute`` and ``transaction``."""

    blob = "BLOB"
    readers = 4

    def __init__(self, path: str) -> None:
        self._lock = threading.RLock()
        # Resolved now: readers open the file later, after the working directory may have changed.
        self._path = path if path in ("", ":memory:") else str(Path(path).resolve())
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        for pragma in ("journal_mode=WAL", "secure_delete=ON", "synchronous=FULL"):
            self._db.execute(f"PRAGMA {pragma}")
        self._readers: list[Any] = []  # idle reader connections
        if path in ("", ":memory:"):
            self.readers = 0  # another connection would open another database
        self._opened = 0
        self._pool = threading.Condition()
        self._writing = threading.local()  # .depth > 0 while this thread is in a transaction

    def _open_reader(self) -> Any:
        """A read-only connection to the same file."""
        uri = f"{Path(self._path).as_uri()}?mode=ro"
        return sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None, timeout=30)

    def _query(self, reader: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return reader.execute(sql, params).fetchall()

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one query on a reader connection (see the module docstring); returns all rows.
        Waits for a reader when all are busy; uses :meth:`execute` inside a transaction of this
        thread, after :meth:`close`, and when a reader fails."""
        if getattr(self._writing, "depth", 0):
            return self.execute(sql, params)
        with self._pool:
            while not self._readers and self._opened >= self.readers > 0:
                self._pool.wait()  # a query is short: wait for a reader, not for the writer
            if self.readers == 0:
                return self.execute(sql, params)
            reader = self._readers.pop() if self._readers else None
            fresh = reader is None
            self._opened += fresh
        try:
            reader = reader or self._open_reader()
            rows = self._query(reader, sql, params)
        except BaseException as exc:  # noqa: BLE001 - a reader that fails (read-only volume, lost
            with self._pool:  # server) or is interrupted mid-query is dropped, never kept or leaked
                self._opened -= 1
                self._pool.notify()
            if reader is not None:
                reader.close()
            if not isinstance(exc, Exception):
                raise
            return self.execute(sql, params)  # the writer runs the query, raises its own error
        with self._pool:
            if self.readers:
                self._readers.append(reader)
                self._pool.notify()
                return rows
        reader.close()  # the store was closed meanwhile
        return rows

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; returns all rows (empty for writes)."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows."""
        with self._lock:
            self._db.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[SqlStore]:
        """All statements in the block commit together or not at all."""
        with self._lock, self._in_transaction():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite rolls back by itself on some errors (I/O, full disk); a failed COMMIT
                # (deferred constraint, busy) leaves the transaction open: never keep it open.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def _in_transaction(self) -> Iterator[None]:
        self._writing.depth = getattr(self._writing, "depth", 0) + 1
        try:
            yield
        finally:
            self._writing.depth -= 1

    def scrub(self) -> None:
        """Checkpoint and truncate the WAL so deleted pages leave no old copies behind."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Close the connections."""
        with self._pool:
            readers, self._readers, self.readers = self._readers, [], 0  # later reads use the writer
            self._pool.notify_all()
        for reader in readers:
            reader.close()
        with self._lock:
            self._db.close()


class PostgresStore(SqlStore):
    """The same interface on PostgreSQL (psycopg 3), in schema ``lethe_<service>``."""

    blob = "BYTEA"
    readers = 2  # each is a server process: kept few

    def __init__(self, settings: Settings, schema: str) -> None:  # noqa: D107
        self._lock = threading.RLock()
        self._readers, self._opened, self._pool = [], 0, threading.Condition()
        self._writing = threading.local()
        self._settings, self._schema = settings, schema
        self._db = self._connect()
        self._db.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')

    def _connect(self) -> Any:
        """A new autocommit connection with the schema on its search path."""
        import psycopg

        pg = self._settings.postgres
        db = psycopg.connect(
            host=pg.get("POSTGRES_HOST"), port=pg.get("POSTGRES_PORT"),
            dbname=pg.get("POSTGRES_DBNAME"), user=pg.get("POSTGRES_USER"),
            password=pg.get("POSTGRES_PASSWORD") or None, autocommit=True)
        db.execute(f'SET search_path TO "{self._schema}"')
        return db

    def _writer(self) -> Any:
        """The writer (lock held); a connection the server dropped is replaced outside transactions
        (the call that met the loss got its error; nothing is retried)."""
        if self._db.broken and not getattr(self._writing, "depth", 0):
            self._db = self._connect()
        return self._db

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def _open_reader(self) -> Any:
        return self._connect()

    def _query(self, reader: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        cur = reader.execute(self._sql(sql), params)
        return cur.fetchall() if cur.description else []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:  # noqa: D102
        with self._lock:
            cur = self._writer().execute(self._sql(sql), params)
            return cur.fetchall() if cur.description else []

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:  # noqa: D102
        with self._lock, self._writer().cursor() as cur:
            cur.executemany(self._sql(sql), rows)

    @contextmanager
    def transaction(self) -> Iterator[SqlStore]:  # noqa: D102
        with self._lock, self._writer().transaction(), self._in_transaction():
            yield self

    def scrub(self) -> None:  # noqa: D102
        """PostgreSQL keeps dead tuples until VACUUM; erasure relies on crypto-shredding."""


def ensure_schema(settings: Settings, schema: str) -> None:
    """Create a PostgreSQL schema if it does not exist (eventsourcing expects it)."""
    PostgresStore(settings, schema).close()


def open_store(settings: Settings, service: str, name: str) -> SqlStore:
    """The service's mutable store ``name`` on the configured backend."""
    if settings.persistence == "postgres":
        return PostgresStore(settings, settings.schema(service))
    return SqlStore(str(settings.service_dir(service) / f"{name}.db"))
