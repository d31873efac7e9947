"""The durable queue of acknowledged interactions waiting for de-identification.

An acknowledged interaction is one row of ``pending`` in ingestion's own store (SQLite with WAL,
``synchronous=FULL`` and ``secure_delete=ON``, so a commit is on disk before the answer and a
removed row is overwritten; or PostgreSQL). The row holds, in clear, only what the worker needs
to ask the vault for the key again: ``interaction_id``, ``subject_ref``, the session hint and
``received_at`` (ISO 8601, UTC). Everything else (texts, contact, network prefix, user-agent
family, kind, region, occurred_at) is sealed with AES-256-GCM under :func:`derived_key` of the
session's pseudonym key, which the vault keeps sealed under the subject's key group and destroys
at erasure: once the subject is erased, a row left behind (a backup, say) opens to nobody.

Payload layout: ``seal(key, json, aad)`` of :func:`shared.crypto.seal` (``0x01 || nonce(12) ||
ciphertext || tag(16)``), AAD = ``"pending|" + interaction_id + "|" + subject_ref`` (a row moved
to another id or subject does not authenticate).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.crypto import open_sealed, seal
from shared.store import SqlStore

PURPOSES = ("interaction-id", "pending")


def derived_key(session_key: bytes, purpose: str) -> bytes:
    """A 32-byte key for ``purpose`` (one of :data:`PURPOSES`) from a 32-byte session key.

    HKDF-SHA256 (RFC 5869) with info ``lethe/ingestion/<purpose>``, so that the pseudonym key is
    never used as an AES key or for ids itself. Raises ValueError on an unknown purpose.
    """
    if purpose not in PURPOSES:
        raise ValueError("unknown key purpose")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"lethe/ingestion/{purpose}".encode()).derive(session_key)


@dataclass(frozen=True)
class Payload:
    """What the worker needs of an interaction, once de-identified at the door (no account id,
    no full IP address, no user-agent string)."""

    kind: str
    region: str
    occurred_at: dt.datetime
    prompt: str
    response: str
    contact: str
    network_prefix: str
    user_agent_family: str


@dataclass(frozen=True)
class PendingEntry:
    """One queued interaction: the clear lookup fields and the sealed payload."""

    interaction_id: str
    subject_ref: str
    session_hint: str
    received_at: dt.datetime
    blob: bytes

    def open(self, session_key: bytes) -> Payload:
        """The payload; raises shared.crypto.DecryptionError under another key or when altered."""
        data = json.loads(open_sealed(derived_key(session_key, "pending"), self.blob, self._aad()))
        data["occurred_at"] = dt.datetime.fromisoformat(data["occurred_at"])
        return Payload(**data)

    def _aad(self) -> bytes:
        return f"pending|{self.interaction_id}|{self.subject_ref}".encode()

    @classmethod
    def sealed(cls, interaction_id: str, subject_ref: str, session_hint: str,
               received_at: dt.datetime, session_key: bytes, payload: Payload) -> PendingEntry:
        """A new entry with ``payload`` sealed under the session key."""
        entry = cls(interaction_id, subject_ref, session_hint, received_at, b"")
        body = {**payload.__dict__, "occurred_at": payload.occurred_at.isoformat()}
        blob = seal(derived_key(session_key, "pending"),
                    json.dumps(body, ensure_ascii=False).encode("utf-8"), entry._aad())
        return cls(interaction_id, subject_ref, session_hint, received_at, blob)


class PendingQueue:
    """``pending`` rows: add (one transaction per batch), look up, take the oldest, remove.

    A row the vault or anonymization refuses for good is parked (``parked`` = an UPPER_SNAKE
    reason) instead of blocking the queue: still sealed and still erasable, skipped by
    :meth:`oldest`, listed by :meth:`parked_entries` for an operator or a later release.
    """

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        store.execute(f"""CREATE TABLE IF NOT EXISTS pending (
            interaction_id TEXT PRIMARY KEY, subject_ref TEXT NOT NULL, session_hint TEXT NOT NULL,
            received_at TEXT NOT NULL, blob {store.blob} NOT NULL,
            parked TEXT NOT NULL DEFAULT '')""")
        store.execute("CREATE INDEX IF NOT EXISTS pending_age ON pending (received_at)")

    def add(self, entries: list[PendingEntry]) -> None:
        """Queue entries in one committed transaction (an id already queued is left as it is)."""
        if not entries:
            return
        with self.store.transaction() as tx:
            tx.executemany("INSERT INTO pending (interaction_id, subject_ref, session_hint, received_at, blob) "
                           "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", [
                (e.interaction_id, e.subject_ref, e.session_hint, e.received_at.isoformat(), e.blob)
                for e in entries])

    def oldest(self, limit: int) -> list[PendingEntry]:
        """Up to ``limit`` entries, oldest first."""
        rows: list[tuple[Any, ...]] = self.store.execute(
            "SELECT interaction_id, subject_ref, session_hint, received_at, blob FROM pending "
            "WHERE parked = '' ORDER BY received_at, interaction_id LIMIT ?", (limit,))
        return [PendingEntry(r[0], r[1], r[2], dt.datetime.fromisoformat(r[3]), bytes(r[4]))
                for r in rows]

    def parked_entries(self) -> list[PendingEntry]:
        """The parked entries, oldest first."""
        rows: list[tuple[Any, ...]] = self.store.execute(
            "SELECT interaction_id, subject_ref, session_hint, received_at, blob FROM pending "
            "WHERE parked <> '' ORDER BY received_at, interaction_id")
        return [PendingEntry(r[0], r[1], r[2], dt.datetime.fromisoformat(r[3]), bytes(r[4]))
                for r in rows]

    def park(self, interaction_id: str, reason: str) -> None:
        """Set an entry aside with an UPPER_SNAKE reason (no personal data)."""
        self.store.execute("UPDATE pending SET parked=? WHERE interaction_id=?", (reason, interaction_id))

    def remove(self, interaction_ids: list[str]) -> None:
        """Delete entries (in one transaction); unknown ids are ignored."""
        if interaction_ids:
            with self.store.transaction() as tx:
                tx.executemany("DELETE FROM pending WHERE interaction_id=?",
                               [(i,) for i in interaction_ids])

    def count(self, parked: bool = False) -> int:
        """How many entries wait for the worker (or, with ``parked``, are parked)."""
        where = "parked <> ''" if parked else "parked = ''"
        return int(self.store.execute(f"SELECT COUNT(*) FROM pending WHERE {where}")[0][0])

    def scrub(self) -> None:
        """Checkpoint the store so that no old WAL frame keeps removed rows (SQLite)."""
        self.store.scrub()
