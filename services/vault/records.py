"""Vault record use cases: store, read, export, purge (sessions: :mod:`services.vault.sessions`).

Mixed into :class:`services.vault.application.VaultApplication`, which provides ``db`` (the record
store), ``keyring`` (:class:`KeyHierarchy`), ``lock``, ``repository`` and ``save``. Ciphertext goes
to the record store (deletable); the event log gets only ids, the audit facts (subject_ref,
generation, category, form) and the per-record facts sealed under the record's DEK (``facts``:
received and occurred times, size, interaction id, region; see ``RecordStored``). Store order for
crash safety: rows are written ``pending``, then events are saved, then rows are marked
``stored``; a retry of a ``pending`` row checks the log and completes it.

A purged or erased record leaves no row behind: its ``records`` and ``blobs`` rows are deleted
(the SQLite store zeroes freed pages, ``PRAGMA secure_delete=ON``, and truncates its WAL; see
:mod:`shared.store` for PostgreSQL) and only its id goes to ``gone``, so that a retried store of
it is still answered "duplicate". The sealed facts and retention's question about them:
:mod:`services.vault.facts`.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from services.vault.domain import (
    CATEGORIES,
    FORMS,
    MAX_CONTENT_BYTES,
    KeyGroups,
    SubjectErased,
    SubjectKeyring,
    VaultRecord,
    check_subject_ref,
)
from services.vault.facts import seal_facts
from services.vault.keys import KeyDestroyed, KeyHierarchy
from shared.crypto import DecryptionError, open_sealed, seal
from shared.errors import InvalidArgument, PermissionDenied, require
from shared.store import SqlStore

STORED, DUPLICATE, ERASED = "stored", "duplicate", "erased"
RECORD_COLUMNS = ("record_id, subject_ref, generation, category, form, region, interaction_id, "
                  "received_at, stored_at, size_bytes, state, facts")


@dataclass(frozen=True)
class RecordIn:
    """A record to store (plaintext content, bytes)."""

    record_id: str
    subject_ref: str
    category: str
    form: str
    region: str
    content: bytes
    received_at: dt.datetime
    interaction_id: str
    occurred_at: dt.datetime | None = None


@dataclass(frozen=True)
class RecordOut:
    """A decrypted record."""

    record_id: str
    category: str
    form: str
    region: str
    content: bytes
    received_at: dt.datetime
    stored_at: dt.datetime
    interaction_id: str


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aad(record_id: str, subject_ref: str, category: str, form: str) -> bytes:
    return f"{record_id}|{subject_ref}|{category}|{form}".encode()


class RecordUseCases:
    """Sessions and records of subjects, each sealed under the DEK of its category's key group in
    the subject's current generation."""

    db: SqlStore
    keyring: KeyHierarchy
    groups: KeyGroups
    lock: Any
    repository: Any
    save: Any

    def _keyring(self, subject_ref: str, touched: dict[str, SubjectKeyring]) -> SubjectKeyring:
        if subject_ref not in touched:
            try:
                touched[subject_ref] = self.repository.get(SubjectKeyring.create_id(subject_ref))
            except AggregateNotFoundError:
                touched[subject_ref] = SubjectKeyring(subject_ref)
        return touched[subject_ref]

    def _generation_for(self, subject_ref: str, received_at: dt.datetime,
                        touched: dict[str, SubjectKeyring],
                        occurred_at: dt.datetime | None = None) -> int:
        """The key generation that data received at ``received_at`` belongs to (creating one).

        Raises SubjectErased when the data was received or happened before the last erasure.
        """
        keyring = self._keyring(subject_ref, touched)
        keyring.check_can_store(received_at, occurred_at)
        if keyring.needs_generation():
            generation = keyring.generation + 1
            bucket = self.keyring.create_dek(subject_ref, generation, self.groups.names)
            keyring.create_generation(generation, bucket)
        return keyring.generation

    def store(self, records: list[RecordIn]) -> list[str]:
        """Encrypt and store records; returns "stored", "duplicate" or "erased" per record.

        Raises InvalidArgument (before anything is written) on a malformed record.
        """
        for r in records:
            try:
                uuid.UUID(r.record_id)
            except ValueError:
                raise InvalidArgument("record_id must be a UUID", "RECORD_ID_INVALID") from None
            check_subject_ref(r.subject_ref)
            require(r.category in CATEGORIES, "unknown data category", "CATEGORY_INVALID")
            require(r.form in FORMS, "unknown record form", "FORM_INVALID")
            require(len(r.content) <= MAX_CONTENT_BYTES, "content exceeds 1 MiB", "CONTENT_TOO_LARGE")
            require(0 < len(r.region) <= 16, "region must be 1..16 characters", "REGION_INVALID")
        with self.lock:
            states = self._states([r.record_id for r in records])
            touched: dict[str, SubjectKeyring] = {}
            outcomes, new_records, rows, blobs = [], [], [], []
            stored_at = now()
            for r in records:
                state = states.get(r.record_id)
                if state == "pending" and uuid.UUID(r.record_id) in self.repository:
                    state = "stored"
                    self.db.execute("UPDATE records SET state='stored' WHERE record_id=?", (r.record_id,))
                if state in ("stored", "purged", "erased", "gone"):
                    outcomes.append(DUPLICATE)
                    continue
                try:
                    generation = self._generation_for(r.subject_ref, r.received_at, touched,
                                                      r.occurred_at)
                except SubjectErased:
                    outcomes.append(ERASED)
                    continue
                dek = self.keyring.dek(r.subject_ref, generation, self.groups.of(r.category))
                blob = seal(dek, r.content, _aad(r.record_id, r.subject_ref, r.category, r.form))
                facts = seal_facts(dek, r.record_id, r.received_at, r.occurred_at,
                                   len(r.content), r.interaction_id, r.region)
                if state is None:
                    rows.append((r.record_id, r.subject_ref, generation, r.category, r.form,
                                 r.region, r.interaction_id, r.received_at.isoformat(),
                                 stored_at.isoformat(), len(r.content), "pending", facts))
                else:
                    self.db.execute("UPDATE records SET facts=? WHERE record_id=?",
                                    (facts, r.record_id))
                blobs.append((r.record_id, blob))
                new_records.append(VaultRecord(
                    record_id=uuid.UUID(r.record_id), subject_ref=r.subject_ref,
                    generation=generation, category=r.category, form=r.form,
                    facts=base64.b64encode(facts).decode("ascii")))
                outcomes.append(STORED)
            with self.db.transaction() as tx:
                tx.executemany(f"INSERT INTO records ({RECORD_COLUMNS}) "
                               "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
                tx.executemany("INSERT OR REPLACE INTO blobs VALUES (?, ?)"
                               if tx.blob == "BLOB" else
                               "INSERT INTO blobs VALUES (?, ?) ON CONFLICT (record_id) DO UPDATE SET blob=EXCLUDED.blob",
                               blobs)
            self.save(*touched.values(), *new_records)
            if new_records:
                with self.db.transaction() as tx:
                    tx.executemany("UPDATE records SET state='stored' WHERE record_id=?",
                                   [(str(a.id),) for a in new_records])
            return outcomes

    def _states(self, record_ids: list[str]) -> dict[str, str]:
        states: dict[str, str] = {}
        for i in range(0, len(record_ids), 500):
            chunk = record_ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for rid, state in self.db.execute(
                    f"SELECT record_id, state FROM records WHERE record_id IN ({marks})", chunk):
                states[rid] = state
            for (rid,) in self.db.execute(
                    f"SELECT record_id FROM gone WHERE record_id IN ({marks})", chunk):
                states[rid] = "gone"
        return states

    def _decrypt(self, rows: list[tuple], purpose: str, request_id: str) -> list[RecordOut]:
        out, read = [], []
        for rid, subject_ref, generation, category, form, region, iid, received, stored, blob in rows:
            try:
                dek = self.keyring.dek(subject_ref, generation, self.groups.of(category))
                content = open_sealed(dek, bytes(blob), _aad(rid, subject_ref, category, form))
            except (KeyDestroyed, DecryptionError):
                continue
            out.append(RecordOut(rid, category, form, region, content,
                                 dt.datetime.fromisoformat(received),
                                 dt.datetime.fromisoformat(stored), iid))
            record = self.repository.get(uuid.UUID(rid))
            record.read(purpose=purpose, request_id=request_id)
            read.append(record)
        self.save(*read)
        return out

    _SELECT = ("SELECT r.record_id, r.subject_ref, r.generation, r.category, r.form, r.region, "
               "r.interaction_id, r.received_at, r.stored_at, b.blob FROM records r "
               "JOIN blobs b ON b.record_id = r.record_id WHERE r.state='stored' AND ")

    def read(self, record_ids: list[str], purpose: str, request_id: str = "",
             forms: frozenset[str] | None = None) -> list[RecordOut]:
        """Decrypt live records by id (purged, erased or unknown ids are omitted); each read is an event.

        ``forms``: the content forms the caller may read (None: any); a live record of another form
        refuses the whole read (PermissionDenied, FORM_NOT_READABLE) before anything is decrypted.
        """
        require(bool(purpose), "purpose is required", "PURPOSE_MISSING")
        with self.lock:
            rows: list[tuple] = []
            for i in range(0, len(record_ids), 500):
                chunk = record_ids[i:i + 500]
                rows += self.db.execute(self._SELECT + f"r.record_id IN ({','.join('?' * len(chunk))})", chunk)
            if forms is not None and any(row[4] not in forms for row in rows):
                raise PermissionDenied("the caller may not read records of this form", "FORM_NOT_READABLE")
            return self._decrypt(rows, purpose, request_id)

    def export_subject(self, subject_ref: str, request_id: str) -> list[RecordOut]:
        """Decrypt every live record of a subject (GDPR Art. 15); reads are recorded."""
        check_subject_ref(subject_ref)
        with self.lock:
            rows = self.db.execute(self._SELECT + "r.subject_ref=? ORDER BY r.received_at, r.record_id",
                                   (subject_ref,))
            return self._decrypt(rows, "access_request", request_id)

    def purge(self, record_ids: list[str], reason: str, request_id: str) -> int:
        """Delete records' rows and ciphertext (idempotent); returns how many were purged now.

        Crash-safe in two steps: ``RecordPurged`` is recorded first (once per record: a record
        already purged in the log gets no second event), then the rows go (:func:`forget_rows`).
        A failure between them leaves the rows ``stored``; the retry deletes them.
        """
        require(bool(reason), "reason is required", "REASON_MISSING")
        with self.lock:
            live = [rid for rid, state in self._states(record_ids).items() if state == "stored"]
            if not live:
                return 0
            purged = []
            for rid in live:
                record = self.repository.get(uuid.UUID(rid))
                if not record.purged:
                    record.purge(reason=reason, request_id=request_id)
                    purged.append(record)
            self.save(*purged)
            with self.db.transaction() as tx:
                forget_rows(tx, "record_id=?", [(r,) for r in live])
            self.db.scrub()
            return len(live)


def forget_rows(tx: SqlStore, where: str, args: list[tuple[Any, ...]]) -> None:
    """Delete the ``records`` and ``blobs`` rows matching ``where`` (one statement per argument
    tuple), keeping only their ids in ``gone`` (no subject, time or size)."""
    sub = f"SELECT record_id FROM records WHERE {where}"
    tx.executemany(f"INSERT INTO gone (record_id) {sub} ON CONFLICT (record_id) DO NOTHING", args)
    tx.executemany(f"DELETE FROM blobs WHERE record_id IN ({sub})", args)
    tx.executemany(f"DELETE FROM records WHERE {where}", args)
