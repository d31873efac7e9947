"""Vault erasure and key use cases: shred a subject, reclaim its ciphertext, rotate keys.

Mixed into :class:`services.vault.application.VaultApplication`. Erasure is crypto-shredding
(:meth:`KeyHierarchy.destroy_dek`), safe to crash at every step: ``SubjectShredded`` is recorded
only after every generation's bucket key versions were destroyed, and a retry takes the
generations from the subject's keyring, never only from ``deks`` rows that may already be gone.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from services.vault.domain import CATEGORIES, SESSION_CATEGORY, KeyGroups, SubjectKeyring, check_subject_ref
from services.vault.keys import ALL, KeyHierarchy
from services.vault.records import forget_rows, now
from shared.errors import require
from shared.store import SqlStore


class ErasureUseCases:
    """Shreds subjects, reclaims undecryptable ciphertext and rotates the key hierarchy."""

    db: SqlStore
    key_db: SqlStore
    keyring: KeyHierarchy
    groups: KeyGroups
    lock: Any
    session_lock: Any
    save: Any
    disclosed_to: dict[str, set[str]]
    reclaim_wanted: threading.Event
    _keyring: Any

    def shred_subject(self, subject_ref: str, request_id: str,
                      keep: tuple[str, ...] = (),
                      through_generation: int = 0) -> tuple[int, int, dt.datetime, list[str]]:
        """Crypto-shred a subject (GDPR Art. 17), but for the categories in ``keep`` (those a legal
        hold preserves: their key groups stay, and a later request shreds them).

        Returns (generation, records made undecryptable, erased_at, recipients notified under
        GDPR Art. 19).

        Idempotent by ``request_id``, and by the subject's state: a request for a subject that
        holds nothing since its last shred is fulfilled by that shred (no second destruction; the
        tombstone moves to now, so data received until then stays refused). Otherwise the DEK of
        every key group not kept, of every generation not yet shredded (from the keyring, plus any
        wrapped DEK row left by a crash or kept by a hold), is destroyed by
        :meth:`KeyHierarchy.destroy_dek`, and only then is ``SubjectShredded`` recorded: a failure
        at any step leaves the request unanswered, and the retry completes it. A generation from
        before key groups (group ``*``) is kept whole when anything is kept. The undecryptable
        ciphertext is deleted afterwards by :meth:`reclaim`, so the cost does not grow with the
        subject's record count. ``through_generation`` > 0 limits the shred to generations up to it
        (the held part of a partial erasure, leaving later use of the account alone). Raises
        InvalidArgument on an unknown category in ``keep``.
        """
        check_subject_ref(subject_ref)
        require(bool(request_id), "request_id is required", "REQUEST_ID_MISSING")
        require(all(c in CATEGORIES for c in keep), "unknown category to keep", "CATEGORY_INVALID")
        kept = self.groups.of_all(keep) | ({ALL} if keep else set())
        with self.lock, self.session_lock:  # no session is created while its keys go
            touched: dict[str, SubjectKeyring] = {}
            keyring = self._keyring(subject_ref, touched)
            if request_id in keyring.shreds:
                done = keyring.shreds[request_id]
                return (int(done["generation"]), int(done["records_purged"]),
                        dt.datetime.fromisoformat(str(done["erased_at"])),
                        list(done.get("notified_recipients", [])))
            generations = [g for g in self._unshredded(subject_ref, keyring)
                           if not through_generation or g <= through_generation]
            live = 0
            rotated: list[list[int]] = []
            if generations or not keyring.holds_nothing_new():
                targets = {g: self._groups_to_destroy(subject_ref, g, kept) for g in generations}
                live = self._live_records(subject_ref, targets)
                session_groups = {self.groups.of(SESSION_CATEGORY), ALL}
                for g, groups in targets.items():
                    if session_groups & set(groups):
                        self.db.execute("DELETE FROM sessions WHERE subject_ref=? AND generation=?",
                                        (subject_ref, g))
                    rotated += [[g, *self.keyring.destroy_dek(subject_ref, g, group)]
                                for group in groups]
            erased_at = now()
            # GDPR Art. 19: recipients that received this subject's personal data are notified.
            notified = sorted(self.disclosed_to.get(subject_ref, ()))
            generation = through_generation or max([keyring.generation, *generations])
            keyring.shred(request_id=request_id, subject_ref=subject_ref, generation=generation,
                          erased_at=erased_at, records_purged=live, notified_recipients=notified,
                          buckets_rotated=rotated, kept_categories=sorted(keep))
            self.save(keyring)
        self.reclaim_wanted.set()
        return generation, live, erased_at, notified

    def _groups_to_destroy(self, subject_ref: str, generation: int, kept: set[str]) -> list[str]:
        """The key groups of a generation to destroy: those with a DEK row that are not kept; for
        a generation with no row left (a shred that crashed after deleting them), every group
        again (rotating a bucket twice is harmless; missing one is not)."""
        present = self.keyring.groups_of(subject_ref, generation)
        if not present:
            present = [*self.groups.names, ALL]
        return [g for g in present if g not in kept]

    def _live_records(self, subject_ref: str, targets: dict[int, list[str]]) -> int:
        """How many live records the destroyed groups sealed (one grouped query, no row scan)."""
        counts = self.db.execute(
            "SELECT generation, category, COUNT(*) FROM records WHERE subject_ref=? "
            "AND state IN ('stored','pending') GROUP BY generation, category", (subject_ref,))
        return sum(int(n) for g, category, n in counts
                   if ALL in targets.get(int(g), ()) or self.groups.of(category) in targets.get(int(g), ()))

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
        background, so that an erasure costs the same for 10 or 10,000 records. The rows go
        (:func:`forget_rows`: no size, time or interaction id is left, only the record id in
        ``gone``). Crash-safe: it finds its work from the store (live rows whose DEK no longer
        exists).
        """
        with self.lock:
            live = self.db.execute("SELECT DISTINCT subject_ref, generation, category FROM records "
                                   "WHERE state IN ('stored','pending')")
            keyed = {(s, int(g), grp) for s, g, grp in
                     self.key_db.execute("SELECT subject_ref, generation, grp FROM deks")}
            orphans = [(s, int(g), c) for s, g, c in live
                       if (s, int(g), self.groups.of(c)) not in keyed and (s, int(g), ALL) not in keyed]
        done = 0
        for subject_ref, generation, category in orphans:
            with self.lock, self.db.transaction() as tx:
                where = "subject_ref=? AND generation=? AND category=? AND state IN ('stored','pending')"
                args = (subject_ref, generation, category)
                done += len(tx.execute(f"SELECT record_id FROM records WHERE {where}", args))
                forget_rows(tx, where, [args])
        if done:
            self.db.scrub()
        return done

    def rotate(self, root: bool, bucket: int = -1) -> int:
        """Rotate the root KEK (root=True) or bucket keys; returns the number of keys rewrapped."""
        with self.lock:
            return self.keyring.rotate_root() if root else self.keyring.rotate_bucket(bucket)

