"""Mutable tables for what must be truly deletable (ciphertext, wrapped keys) or is derived state.

Event logs are immutable, so personal data never goes into them; the vault keeps ciphertext and
wrapped DEKs here, where a purge is a real ``DELETE``. On SQLite the store runs with
``PRAGMA secure_delete=ON`` (deleted content is overwritten with zeros) and checkpoints its WAL
with ``TRUNCATE`` after deletions (:meth:`SqlStore.scrub`), so no old frame keeps deleted pages.
Erasure does not depend on this (it is crypto-shredding), it only removes residue.

SQL is written with ``?`` placeholders and portable types (TEXT, BLOB/BYTEA via :attr:`blob`,
BIGINT); the PostgreSQL store rewrites placeholders and uses one schema per service.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from shared.config import Settings


class SqlStore:
    """A small thread-safe SQL store: ``execute`` and ``transaction``."""

    blob = "BLOB"

    def __init__(self, path: str) -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        for pragma in ("journal_mode=WAL", "secure_delete=ON", "synchronous=FULL"):
            self._db.execute(f"PRAGMA {pragma}")

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
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def scrub(self) -> None:
        """Checkpoint and truncate the WAL so deleted pages leave no old copies behind."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()


class PostgresStore(SqlStore):
    """The same interface on PostgreSQL (psycopg 3), in schema ``lethe_<service>``."""

    blob = "BYTEA"

    def __init__(self, settings: Settings, schema: str) -> None:  # noqa: D107
        import psycopg

        self._lock = threading.RLock()
        pg = settings.postgres
        self._db = psycopg.connect(
            host=pg.get("POSTGRES_HOST"), port=pg.get("POSTGRES_PORT"),
            dbname=pg.get("POSTGRES_DBNAME"), user=pg.get("POSTGRES_USER"),
            password=pg.get("POSTGRES_PASSWORD") or None, autocommit=True)
        self._db.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        self._db.execute(f'SET search_path TO "{schema}"')
        self._in_tx = False

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:  # noqa: D102
        with self._lock:
            cur = self._db.execute(self._sql(sql), params)
            return cur.fetchall() if cur.description else []

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:  # noqa: D102
        with self._lock, self._db.cursor() as cur:
            cur.executemany(self._sql(sql), rows)

    @contextmanager
    def transaction(self) -> Iterator[SqlStore]:  # noqa: D102
        with self._lock, self._db.transaction():
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
