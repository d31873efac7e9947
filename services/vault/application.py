"""Vault use cases: open sessions, store, read, export, purge, shred, rotate.

Each use case: validate, load aggregates, one domain call each, save, return. Ciphertext and
wrapped keys go to the record store (deletable); the event log gets only ids and facts.
Store order for crash safety: rows are written ``pending``, then events are saved, then rows are
marked ``stored``; a retry of a ``pending`` row checks the log and completes it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from services.vault.domain import (
    CATEGORIES,
    FORMS,
    MAX_CONTENT_BYTES,
    SubjectErased,
    SubjectKeyring,
    VaultRecord,
    check_subject_ref,
)
from services.vault.keys import KeyDestroyed, KeyHierarchy
from services.vault.registry import (
    Recipient,
    ReleaseDecision,
    check_recipient_id,
    check_recipient_mechanism,
    check_release,
)
from shared.app import LetheApplication, event_type
from shared.config import Settings
from shared.crypto import DecryptionError, keyed_digest, open_sealed, seal
from shared.errors import FailedPrecondition, InvalidArgument, PermissionDenied, require
from shared.keysource import FileKeySource
from shared.policy import load_policy
from shared.store import open_store
from shared.transit import transit_bucket_keys

STORED, DUPLICATE, ERASED = "stored", "duplicate", "erased"
REGION = re.compile(r"^[A-Z]{2,8}$")


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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aad(record_id: str, subject_ref: str, category: str, form: str) -> bytes:
    return f"{record_id}|{subject_ref}|{category}|{form}".encode()


class VaultApplication(LetheApplication):
    """The vault service's application."""

    service = "vault"

    def __init__(self, settings: Settings, keys: FileKeySource, buckets: int = 64) -> None:
        super().__init__(settings, keys)
        self.db = open_store(settings, "vault", "records")
        blob = self.db.blob
        self.db.execute("""CREATE TABLE IF NOT EXISTS records (
            record_id TEXT PRIMARY KEY, subject_ref TEXT NOT NULL, generation BIGINT NOT NULL,
            category TEXT NOT NULL, form TEXT NOT NULL, region TEXT NOT NULL,
            interaction_id TEXT NOT NULL, received_at TEXT NOT NULL, stored_at TEXT NOT NULL,
            size_bytes BIGINT NOT NULL, state TEXT NOT NULL)""")
        self.db.execute("CREATE INDEX IF NOT EXISTS records_subject ON records (subject_ref)")
        self.db.execute(f"CREATE TABLE IF NOT EXISTS blobs (record_id TEXT PRIMARY KEY, blob {blob} NOT NULL)")
        self.db.execute(f"""CREATE TABLE IF NOT EXISTS sessions (lookup TEXT PRIMARY KEY,
            subject_ref TEXT NOT NULL, generation BIGINT NOT NULL, blob {blob} NOT NULL)""")
        self.db.execute("CREATE INDEX IF NOT EXISTS sessions_subject ON sessions (subject_ref)")
        # Wrapped DEKs live in their own small store (vault/keys.db), apart from the ciphertext,
        # so operators can back it up more often than the bulk records (see README).
        self.key_db = open_store(settings, "vault", "keys")
        bucket_source = FileKeySource(settings.vault_key_dir) if settings.vault_key_dir else keys
        self.keyring = KeyHierarchy(keys, self.key_db, buckets=buckets, bucket_source=bucket_source,
                                    transit=transit_bucket_keys(settings))  # LETHE_KEY_SOURCE
        self.reclaim_wanted = threading.Event()
        self.reclaim_wanted.set()  # at start-up: finish what a crash may have left
        self.disclosed_to: dict[str, set[str]] = defaultdict(set)  # subject_ref -> recipient ids
        self.recipient_ids: set[str] = set()
        self.policy = load_policy()
        self.rebuild_projections()
        self._register_policy_recipients()

    def close(self) -> None:  # noqa: D102
        super().close()
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

    # ---- recipient registry and governed releases ----
    def _register_policy_recipients(self) -> None:
        """Seed the registry with the policy file's recipients (once; later changes go over gRPC)."""
        for entry in self.policy.recipients:
            if entry["id"] not in self.recipient_ids:
                self.register_recipient(entry["id"], entry["name"], entry["category"],
                                        entry["region"], entry.get("transfer_mechanism", ""),
                                        entry.get("legal_reference", ""), entry.get("valid_until", ""))

    def _recipient(self, recipient_id: str) -> Recipient | None:
        try:
            return self.repository.get(Recipient.create_id(recipient_id))
        except AggregateNotFoundError:
            return None

    def register_recipient(self, recipient_id: str, name: str, category: str, region: str,
                           transfer_mechanism: str = "", legal_reference: str = "",
                           valid_until: str = "") -> dict[str, Any]:
        """Register or update a recipient; raises InvalidArgument on a bad id, category or date."""
        check_recipient_id(recipient_id)
        categories = {c["category"] for c in self.policy.recipient_categories}
        require(category in categories, "unknown recipient category", "CATEGORY_INVALID")
        require(bool(REGION.match(region)), "region must be 2-8 upper-case letters, e.g. EU",
                "REGION_INVALID")
        check_recipient_mechanism(self.policy.transfers, region, transfer_mechanism, legal_reference)
        if valid_until:
            try:
                dt.date.fromisoformat(valid_until)
            except ValueError:
                raise InvalidArgument("valid_until must be an ISO date", "VALID_UNTIL_INVALID") from None
        with self.lock:
            recipient = self._recipient(recipient_id)
            facts = dict(name=name, category=category, region=region,
                         transfer_mechanism=transfer_mechanism, legal_reference=legal_reference,
                         valid_until=valid_until)
            if recipient is None:
                recipient = Recipient(recipient_id=recipient_id, **facts)
            elif recipient.as_dict() != {**facts, "recipient_id": recipient_id, "active": True}:
                recipient.update(**facts)
            self.save(recipient)
            return recipient.as_dict()

    def list_recipients(self) -> list[dict[str, Any]]:
        """The registry, sorted by id."""
        with self.lock:
            found = [self._recipient(r) for r in sorted(self.recipient_ids)]
        return [r.as_dict() for r in found if r is not None]

    def _decide(self, action: str, request_id: str, recipient_id: str, purpose: str,
                data_kind: str, subject_ref: str, categories: list[str]) -> tuple[bool, str, list[RecordOut]]:
        require(bool(request_id), "request_id is required", "REQUEST_ID_MISSING")
        check_recipient_id(recipient_id)
        require(0 < len(purpose) <= 64, "purpose must be 1..64 characters", "PURPOSE_INVALID")
        require(data_kind in ("personal", "aggregate"), "data_kind is required", "DATA_KIND_INVALID")
        if data_kind == "personal":
            check_subject_ref(subject_ref)
        with self.lock:
            try:
                decision = self.repository.get(ReleaseDecision.create_id(request_id))
            except AggregateNotFoundError:
                decision = None
            if decision is not None:  # a retry gets the first decision (and the same records)
                if decision.action != action:
                    raise FailedPrecondition("request_id already used", "REQUEST_ID_REUSED")
                state, reason, ids = decision.outcome
                if state != "released":
                    return False, reason, []
                return True, "", self.read(ids, f"{action}:{recipient_id}", request_id) if ids else []
            recipient = self._recipient(recipient_id)
            rows = []
            if data_kind == "personal":
                rows = self.db.execute(self._SELECT + "r.subject_ref=? ORDER BY r.received_at, r.record_id",
                                       (subject_ref,))
                if categories:
                    rows = [r for r in rows if r[3] in categories]
            regions = {r[5] for r in rows}
            rules = {c["category"]: c for c in self.policy.recipient_categories}
            reason = check_release(recipient, rules, purpose, data_kind, regions,
                                   dt.datetime.now(dt.timezone.utc).date())
            decision = ReleaseDecision(request_id=request_id, action=action)
            if reason:
                decision.refused(request_id=request_id, recipient_id=recipient_id, purpose=purpose,
                                 data_kind=data_kind, subject_ref=subject_ref, reason=reason)
                self.save(decision)
                return False, reason, []
            ids = [r[0] for r in rows]
            mechanism = recipient.transfer_mechanism if any(g != recipient.region for g in regions) else ""
            if action == "transfer":
                decision.transferred(request_id=request_id, recipient_id=recipient_id,
                                     purpose=purpose, subject_ref=subject_ref, record_ids=ids,
                                     from_regions=sorted(regions), to_region=recipient.region,
                                     mechanism=mechanism, legal_reference=recipient.legal_reference)
            else:
                decision.disclosed(request_id=request_id, recipient_id=recipient_id,
                                   purpose=purpose, data_kind=data_kind, subject_ref=subject_ref,
                                   record_ids=ids, mechanism=mechanism)
            self.save(decision)  # fail closed: no event, no release
            return True, "", self._decrypt(rows, f"{action}:{recipient_id}", request_id)

    def disclose(self, request_id: str, recipient_id: str, purpose: str, data_kind: str,
                 subject_ref: str = "", categories: list[str] | None = None) -> tuple[bool, str, list[RecordOut]]:
        """Release data to a registered recipient if the registry allows it.

        Returns (released, refusal reason, decrypted records for personal data). The decision is
        recorded before any data is returned. Raises InvalidArgument on malformed input and
        FailedPrecondition when ``request_id`` was already decided.
        """
        return self._decide("disclose", request_id, recipient_id, purpose, data_kind, subject_ref,
                            categories or [])

    def transfer(self, request_id: str, recipient_id: str, purpose: str,
                 subject_ref: str) -> tuple[bool, str, int]:
        """Move a subject's personal data to a recipient's region under a valid mechanism.

        Returns (released, refusal reason, number of records); recorded either way.
        """
        released, reason, records = self._decide("transfer", request_id, recipient_id, purpose,
                                                 "personal", subject_ref, [])
        return released, reason, len(records)

    # ---- helpers ----
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
            bucket = self.keyring.create_dek(subject_ref, generation)
            keyring.create_generation(generation, bucket)
        return keyring.generation

    # ---- use cases ----
    def open_sessions(self, items: list[tuple[str, str, dt.datetime]]) -> list[tuple[str, bytes] | None]:
        """Map (subject_ref, session_hint, received_at) to (session_id hex, pseudonym key).

        Returns None for a pair whose subject was erased after ``received_at``.
        Raises InvalidArgument on a malformed subject_ref or empty hint.
        """
        for subject_ref, hint, _ in items:
            check_subject_ref(subject_ref)
            require(0 < len(hint) <= 256, "session_hint must be 1..256 characters",
                    "SESSION_HINT_INVALID")
        out: list[tuple[str, bytes] | None] = []
        touched: dict[str, SubjectKeyring] = {}
        with self.lock:
            for subject_ref, hint, received_at in items:
                try:
                    generation = self._generation_for(subject_ref, received_at, touched)
                except SubjectErased:
                    out.append(None)
                    continue
                dek = self.keyring.dek(subject_ref, generation)
                lookup = keyed_digest(dek, "session", hint)
                aad = f"session|{lookup}".encode()
                rows = self.db.execute("SELECT blob FROM sessions WHERE lookup=?", (lookup,))
                if rows:
                    session = json.loads(open_sealed(dek, bytes(rows[0][0]), aad))
                else:
                    session = {"id": os.urandom(16).hex(), "key": os.urandom(32).hex()}
                    self.db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (
                        lookup, subject_ref, generation,
                        seal(dek, json.dumps(session).encode(), aad)))
                out.append((session["id"], bytes.fromhex(session["key"])))
            self.save(*touched.values())
        return out

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
            stored_at = _now()
            for r in records:
                state = states.get(r.record_id)
                if state == "pending" and uuid.UUID(r.record_id) in self.repository:
                    state = "stored"
                    self.db.execute("UPDATE records SET state='stored' WHERE record_id=?", (r.record_id,))
                if state in ("stored", "purged", "erased"):
                    outcomes.append(DUPLICATE)
                    continue
                try:
                    generation = self._generation_for(r.subject_ref, r.received_at, touched,
                                                      r.occurred_at)
                except SubjectErased:
                    outcomes.append(ERASED)
                    continue
                dek = self.keyring.dek(r.subject_ref, generation)
                blob = seal(dek, r.content, _aad(r.record_id, r.subject_ref, r.category, r.form))
                if state is None:
                    rows.append((r.record_id, r.subject_ref, generation, r.category, r.form,
                                 r.region, r.interaction_id, r.received_at.isoformat(),
                                 stored_at.isoformat(), len(r.content), "pending"))
                blobs.append((r.record_id, blob))
                new_records.append(VaultRecord(
                    record_id=uuid.UUID(r.record_id), subject_ref=r.subject_ref,
                    generation=generation, category=r.category, form=r.form, region=r.region,
                    interaction_id=r.interaction_id, received_at=r.received_at,
                    occurred_at=min(r.occurred_at or r.received_at, r.received_at),
                    size_bytes=len(r.content)))
                outcomes.append(STORED)
            with self.db.transaction() as tx:
                tx.executemany("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
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
        return states

    def _decrypt(self, rows: list[tuple], purpose: str, request_id: str) -> list[RecordOut]:
        out, read = [], []
        for rid, subject_ref, generation, category, form, region, iid, received, stored, blob in rows:
            try:
                dek = self.keyring.dek(subject_ref, generation)
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
        """Delete records' ciphertext (idempotent); returns how many were purged by this call."""
        require(bool(reason), "reason is required", "REASON_MISSING")
        with self.lock:
            live = [rid for rid, state in self._states(record_ids).items() if state == "stored"]
            if not live:
                return 0
            with self.db.transaction() as tx:
                tx.executemany("DELETE FROM blobs WHERE record_id=?", [(r,) for r in live])
                tx.executemany("UPDATE records SET state='purged' WHERE record_id=?", [(r,) for r in live])
            self.db.scrub()
            purged = []
            for rid in live:
                record = self.repository.get(uuid.UUID(rid))
                record.purge(reason=reason, request_id=request_id)
                purged.append(record)
            self.save(*purged)
            return len(live)

    def shred_subject(self, subject_ref: str, request_id: str) -> tuple[int, int, dt.datetime, list[str]]:
        """Crypto-shred a subject (GDPR Art. 17).

        Returns (generation, records made undecryptable, erased_at, recipients notified under
        GDPR Art. 19).

        Idempotent by ``request_id``, and by the subject's state: a request for a subject that
        holds nothing since its last shred is fulfilled by that shred (no second destruction; the
        tombstone moves to now, so data received until then stays refused). Otherwise every
        generation not yet shredded (from the keyring, plus any wrapped DEK row left by a crash) is
        destroyed by :meth:`KeyHierarchy.destroy_dek`, and only then is ``SubjectShredded``
        recorded: a failure at any step leaves the request unanswered, and the retry completes it.
        The undecryptable ciphertext is deleted afterwards by :meth:`reclaim`, so the cost does not
        grow with the subject's record count.
        """
        check_subject_ref(subject_ref)
        require(bool(request_id), "request_id is required", "REQUEST_ID_MISSING")
        with self.lock:
            touched: dict[str, SubjectKeyring] = {}
            keyring = self._keyring(subject_ref, touched)
            if request_id in keyring.shreds:
                done = keyring.shreds[request_id]
                return (int(done["generation"]), int(done["records_purged"]),
                        dt.datetime.fromisoformat(str(done["erased_at"])),
                        list(done.get("notified_recipients", [])))
            generations = self._unshredded(subject_ref, keyring)
            live = 0
            rotated: list[list[int]] = []
            if generations or not keyring.holds_nothing_new():
                live = self.db.execute(
                    "SELECT COUNT(*) FROM records WHERE subject_ref=? AND state IN ('stored','pending')",
                    (subject_ref,))[0][0]
                self.db.execute("DELETE FROM sessions WHERE subject_ref=?", (subject_ref,))
                rotated = [[g, *self.keyring.destroy_dek(subject_ref, g)] for g in generations]
            erased_at = _now()
            # GDPR Art. 19: recipients that received this subject's personal data are notified.
            notified = sorted(self.disclosed_to.get(subject_ref, ()))
            generation = max([keyring.generation, *generations])
            keyring.shred(request_id=request_id, subject_ref=subject_ref, generation=generation,
                          erased_at=erased_at, records_purged=live, notified_recipients=notified,
                          buckets_rotated=rotated)
            self.save(keyring)
        self.reclaim_wanted.set()
        return generation, live, erased_at, notified

    def _unshredded(self, subject_ref: str, keyring: SubjectKeyring) -> list[int]:
        """Generations of a subject that no recorded shred covers, plus any with a DEK row left.

        Taken from the keyring (the rows may already be gone after a crashed shred), never only
        from the ``deks`` rows.
        """
        last = max((int(s["generation"]) for s in keyring.shreds.values()), default=0)
        wanted = set(range(last + 1, keyring.generation + 1))
        wanted |= set(self.keyring.generations_of(subject_ref))
        return sorted(wanted)

    def reclaim(self) -> int:
        """Delete the ciphertext of shredded key generations (undecryptable already); returns rows.

        Erasure itself is the DEK's destruction; this removes the residue afterwards, in the
        background, so that an erasure costs the same for 10 or 10,000 records. Crash-safe: it
        finds its work from the store (live rows whose DEK no longer exists).
        """
        with self.lock:
            live = self.db.execute("SELECT DISTINCT subject_ref, generation FROM records "
                                   "WHERE state IN ('stored','pending')")
            keyed = set(self.key_db.execute("SELECT subject_ref, generation FROM deks"))
            orphans = [pair for pair in live if tuple(pair) not in keyed]
        done = 0
        for subject_ref, generation in orphans:
            with self.lock, self.db.transaction() as tx:
                where = "subject_ref=? AND generation=? AND state IN ('stored','pending')"
                done += len(tx.execute(f"SELECT record_id FROM records WHERE {where}",
                                       (subject_ref, generation)))
                tx.execute(f"DELETE FROM blobs WHERE record_id IN (SELECT record_id FROM records WHERE {where})",
                           (subject_ref, generation))
                tx.execute(f"UPDATE records SET state='erased' WHERE {where}", (subject_ref, generation))
        if done:
            self.db.scrub()
        return done

    def rotate(self, root: bool, bucket: int = -1) -> int:
        """Rotate the root KEK (root=True) or bucket keys; returns the number of keys rewrapped."""
        with self.lock:
            return self.keyring.rotate_root() if root else self.keyring.rotate_bucket(bucket)
