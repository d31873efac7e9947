"""The vault's application: wiring of its stores and key hierarchy, and its projections.

The use cases live by concern: :mod:`services.vault.records` (sessions, store, read, export,
purge), :mod:`services.vault.facts` (sealed per-record facts, retention's question),
:mod:`services.vault.releases` (recipient registry, disclosure, transfer) and
:mod:`services.vault.erasure` (shred, reclaim, rotate). Each use case: validate, load aggregates,
one domain call each, save, return.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from services.vault.domain import KeyGroups
from services.vault.erasure import ErasureUseCases
from services.vault.facts import FactUseCases, RecordFacts
from services.vault.keys import KeyHierarchy
from services.vault.records import (
    DUPLICATE,
    ERASED,
    STORED,
    RecordIn,
    RecordOut,
    RecordUseCases,
    forget_rows,
)
from services.vault.releases import ReleaseUseCases
from services.vault.sessions import SessionUseCases
from shared.app import LetheApplication, ServiceLock, event_type
from shared.concurrency import Coalescer
from shared.config import Settings
from shared.keysource import FileKeySource
from shared.policy import load_policy
from shared.store import open_store
from shared.transit import transit_bucket_keys

__all__ = ["DUPLICATE", "ERASED", "STORED", "RecordFacts", "RecordIn", "RecordOut",
           "VaultApplication"]


class VaultApplication(SessionUseCases, RecordUseCases, FactUseCases, ReleaseUseCases, ErasureUseCases,
                       LetheApplication):
    """The vault service's application."""

    service = "vault"

    def __init__(self, settings: Settings, keys: FileKeySource, buckets: int = 64) -> None:
        super().__init__(settings, keys)
        self.db = open_store(settings, "vault", "records")
        blob = self.db.blob
        self.db.execute(f"""CREATE TABLE IF NOT EXISTS records (
            record_id TEXT PRIMARY KEY, subject_ref TEXT NOT NULL, generation BIGINT NOT NULL,
            category TEXT NOT NULL, form TEXT NOT NULL, region TEXT NOT NULL,
            interaction_id TEXT NOT NULL, received_at TEXT NOT NULL, stored_at TEXT NOT NULL,
            size_bytes BIGINT NOT NULL, state TEXT NOT NULL, facts {blob})""")
        self._add_facts_column()
        self.db.execute("CREATE INDEX IF NOT EXISTS records_subject ON records (subject_ref)")
        # Ids of purged or erased records (nothing else): a retried Store of one is a duplicate.
        self.db.execute("CREATE TABLE IF NOT EXISTS gone (record_id TEXT PRIMARY KEY)")
        self.db.execute(f"CREATE TABLE IF NOT EXISTS blobs (record_id TEXT PRIMARY KEY, blob {blob} NOT NULL)")
        self.db.execute(f"""CREATE TABLE IF NOT EXISTS sessions (lookup TEXT PRIMARY KEY,
            subject_ref TEXT NOT NULL, generation BIGINT NOT NULL, blob {blob} NOT NULL)""")
        self.db.execute("CREATE INDEX IF NOT EXISTS sessions_subject ON sessions (subject_ref)")
        with self.db.transaction() as tx:  # rows purged or erased before they were deleted
            forget_rows(tx, "state IN ('purged','erased')", [()])
        self.db.scrub()
        # Wrapped DEKs live in their own small store (vault/keys.db), apart from the ciphertext,
        # so operators can back it up more often than the bulk records (see README).
        self.key_db = open_store(settings, "vault", "keys")
        bucket_source = FileKeySource(settings.vault_key_dir) if settings.vault_key_dir else keys
        self.policy = load_policy()
        self.groups = KeyGroups(self.policy)  # one DEK per category group (partial erasure)
        self.keyring = KeyHierarchy(keys, self.key_db, buckets=buckets, bucket_source=bucket_source,
                                    transit=transit_bucket_keys(settings))  # LETHE_KEY_SOURCE
        # Sessions are created under their own lock (services.vault.sessions); erasure takes both.
        self.session_lock = ServiceLock(settings, self.service, scope="sessions")
        self.session_lock.on_acquire = self.keyring.sync
        # Concurrent creations run as one batch (group commit): a burst of new subjects takes the
        # locks once and writes in one transaction, instead of queueing one creation per call.
        self.session_creations = Coalescer(self._open_locked, 256)
        self.reclaim_wanted = threading.Event()
        self.reclaim_wanted.set()  # at start-up: finish what a crash may have left
        self.disclosed_to: dict[str, set[str]] = defaultdict(set)  # subject_ref -> recipient ids
        self.recipient_ids: set[str] = set()
        self.rebuild_projections()
        self._register_policy_recipients()

    def _add_facts_column(self) -> None:
        """Migration: a records table from before sealed facts gets the ``facts`` column (NULL:
        answered from the row, see :meth:`RecordUseCases.record_facts`)."""
        try:
            self.db.execute("SELECT facts FROM records LIMIT 1")
        except Exception:  # noqa: BLE001 - sqlite3.OperationalError or psycopg UndefinedColumn
            self.db.execute(f"ALTER TABLE records ADD COLUMN facts {self.db.blob}")

    def close(self) -> None:  # noqa: D102
        super().close()
        self.session_lock.close()
        self.db.close()
        self.key_db.close()

    def on_lock_acquired(self) -> None:  # noqa: D102
        super().on_lock_acquired()
        if hasattr(self, "keyring"):
            self.keyring.sync()

    def on_recorded(self, event: Any) -> None:  # noqa: D102
        kind = event_type(event)
        if kind in ("DataDisclosed", "DataTransferred") and getattr(event, "subject_ref", ""):
            self.disclosed_to[event.subject_ref].add(event.recipient_id)
        elif kind == "RecipientRegistered":
            self.recipient_ids.add(event.recipient_id)

