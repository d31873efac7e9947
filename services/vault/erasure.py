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

from services.vault.domain import SubjectKeyring, check_subject_ref
from services.vault.keys import KeyHierarchy
from services.vault.records import now
from shared.errors import require
from shared.store import SqlStore


class ErasureUseCases:
    """Shreds subjects, reclaims undecryptable ciphertext and rotates the key hierarchy."""

    db: SqlStore
    key_db: SqlStore
    keyring: KeyHierarchy
    lock: Any
    save: Any
    disclosed_to: dict[str, set[str]]
    reclaim_wanted: threading.Event
    _keyring: Any

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
            erased_at = now()
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

