"""Vault session use cases: a subject's conversation sessions and their pseudonym keys.

A session is (subject_ref, session hint) -> (random 16-byte id, random 32-byte pseudonym key),
kept in the ``sessions`` table sealed with AES-256-GCM under the DEK of the session key group in
the subject's current generation (:func:`shared.crypto.seal`, AAD ``"session|" + lookup``), looked
up by ``lookup`` = HMAC-SHA256 of the hint under that DEK: so an erasure, which destroys the DEK,
makes every session of the subject unopenable and unfindable (crypto-shredding).

Mixed into :class:`services.vault.application.VaultApplication` beside
:class:`services.vault.records.RecordUseCases` (which provides ``_generation_for``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from services.vault.domain import SESSION_CATEGORY, KeyGroups, SubjectErased, SubjectKeyring, check_subject_ref
from services.vault.keys import KeyDestroyed, KeyHierarchy
from shared.crypto import keyed_digest, open_sealed, seal
from shared.errors import require
from shared.store import SqlStore

_CREATE = object()  # a session that must be created under the lock


class SessionUseCases:
    """Open (or create) sessions; the fast path reads only and takes no service lock."""

    db: SqlStore
    keyring: KeyHierarchy
    groups: KeyGroups
    lock: Any
    session_lock: Any
    session_creations: Any  # a Coalescer over _open_locked (concurrent creations in one batch)
    repository: Any
    save: Any
    _generation_for: Any

    def open_sessions(self, items: list[tuple[str, str, dt.datetime]]) -> list[tuple[str, bytes] | None]:
        """Map (subject_ref, session_hint, received_at) to (session_id hex, pseudonym key).

        Returns None for a pair whose subject was erased after ``received_at``.
        Raises InvalidArgument on a malformed subject_ref or empty hint.

        Sessions that exist are opened without the service lock (:meth:`_open_existing`), so an
        acknowledgement never waits behind a store or an erasure in flight; creating a session
        takes the session lock, and the service lock too when a key generation must be created;
        concurrent calls' creations run as one batch (:class:`shared.concurrency.Coalescer`).
        """
        for subject_ref, hint, _ in items:
            check_subject_ref(subject_ref)
            require(0 < len(hint) <= 256, "session_hint must be 1..256 characters",
                    "SESSION_HINT_INVALID")
        read: dict[str, SubjectKeyring | None] = {}  # one read of each subject's keyring per call
        out: list[tuple[str, bytes] | None] = [self._open_existing(*item, read) for item in items]
        missing = [i for i, found in enumerate(out) if found is _CREATE]
        if missing:
            created = self.session_creations.submit([items[i] for i in missing])
            for i, session in zip(missing, created, strict=True):
                out[i] = session
        return out

    def _open_existing(self, subject_ref: str, hint: str, received_at: dt.datetime,
                       read: dict[str, SubjectKeyring | None]) -> tuple[str, bytes] | None | Any:
        """The session if it exists, None if erased after ``received_at``, else :data:`_CREATE`.

        Read-only, so safe without the lock: a concurrent erasure either came first (None) or
        after (the session of data received before it, which the erasure then covers).
        """
        keyring = self._live_keyring(subject_ref, received_at, read)
        if not isinstance(keyring, SubjectKeyring):
            return keyring
        try:
            dek = self.keyring.dek(subject_ref, keyring.generation, self.groups.of(SESSION_CATEGORY))
        except KeyDestroyed:
            return _CREATE  # erased meanwhile: the locked path sees it
        lookup = keyed_digest(dek, "session", hint)
        rows = self.db.read("SELECT blob FROM sessions WHERE lookup=?", (lookup,))
        if not rows:
            return _CREATE
        session = json.loads(open_sealed(dek, bytes(rows[0][0]), f"session|{lookup}".encode()))
        return session["id"], bytes.fromhex(session["key"])

    def _open_locked(self, items: list[tuple[str, str, dt.datetime]]) -> list[tuple[str, bytes] | None]:
        """Open or create sessions. Under the session lock only when every subject has a live key
        generation (so a create never waits behind a store); with the service lock first when a
        generation must be created (a store may create one too). Erasure holds both locks, so a
        generation seen live under the session lock stays live until the sessions are written."""
        with self.session_lock:
            read: dict[str, SubjectKeyring | None] = {}  # read again: under the lock now
            if not any(self._live_keyring(ref, at, read) is _CREATE for ref, _, at in items):
                return self._create_sessions(items, {})
        touched: dict[str, SubjectKeyring] = {}
        with self.lock, self.session_lock:
            out = self._create_sessions(items, touched)
            self.save(*touched.values())
        return out

    def _live_keyring(self, subject_ref: str, received_at: dt.datetime,
                      read: dict[str, SubjectKeyring | None]) -> SubjectKeyring | None | Any:
        """The subject's keyring with a live generation; None when erased after ``received_at``;
        :data:`_CREATE` when there is no keyring or no live generation yet. ``read`` keeps the
        keyrings read so far in one call (None: not found)."""
        if subject_ref not in read:
            try:
                read[subject_ref] = self.repository.get(SubjectKeyring.create_id(subject_ref))
            except AggregateNotFoundError:
                read[subject_ref] = None
        keyring = read[subject_ref]
        if keyring is None:
            return _CREATE
        try:
            keyring.check_can_store(received_at)
        except SubjectErased:
            return None
        return _CREATE if keyring.needs_generation() else keyring

    def _create_sessions(self, items: list[tuple[str, str, dt.datetime]],
                         touched: dict[str, SubjectKeyring]) -> list[tuple[str, bytes] | None]:
        """Open or create each session; new rows in one transaction (one fsync per call)."""
        out: list[tuple[str, bytes] | None] = []
        with self.db.transaction() as tx:
            for subject_ref, hint, received_at in items:
                try:
                    generation = self._generation_for(subject_ref, received_at, touched)
                except SubjectErased:
                    out.append(None)
                    continue
                dek = self.keyring.dek(subject_ref, generation, self.groups.of(SESSION_CATEGORY))
                lookup = keyed_digest(dek, "session", hint)
                aad = f"session|{lookup}".encode()
                rows = tx.execute("SELECT blob FROM sessions WHERE lookup=?", (lookup,))
                if rows:
                    session = json.loads(open_sealed(dek, bytes(rows[0][0]), aad))
                else:
                    session = {"id": os.urandom(16).hex(), "key": os.urandom(32).hex()}
                    tx.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (
                        lookup, subject_ref, generation, seal(dek, json.dumps(session).encode(), aad)))
                out.append((session["id"], bytes.fromhex(session["key"])))
        return out
