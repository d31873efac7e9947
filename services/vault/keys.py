"""The vault's key hierarchy: root KEK -> bucket keys -> per-subject DEKs (envelope encryption).

Where each key lives::

    key source (true deletion)      vault/root/v<n>              root KEK, 32 bytes
                                    vault/buckets/<bbb>/v<n>     bucket key (intermediate KEK),
                                                                 stored as root_version(4 bytes, BE)
                                                                 || seal(root KEK, key, aad=name)
    data dir (copied by backups)    deks table                   seal(bucket key, DEK, aad=
                                                                 subject_ref|generation[|group])

Key groups: each generation of a subject has one DEK per category group (``group`` column: one
group per retention rule of the policy, e.g. ``user.content``; see
:func:`services.vault.domain.key_groups`), so an erasure can destroy some groups and keep those a
legal hold preserves. Rows written before groups existed are the group ``*`` (every category; aad
without the group) and keep working. A DEK lives in bucket ``H(subject_ref|generation[|group]) mod
B``. Erasing it moves
the bucket to a fresh key version (every other DEK of the bucket is rewrapped), destroys the old
bucket key versions in the key source, and only then deletes the erased DEK's row: every prefix of
these steps is safe to crash after, and a retry finishes the job (the row still existing is the
durable "unfinished" mark). A copy of the data dir taken before the erasure then holds the erased
DEK wrapped under a key that no longer exists anywhere.

With ``LETHE_KEY_SOURCE=transit`` the bucket keys are Transit keys instead
(:class:`shared.transit.TransitBucketKeys`: ``lethe-bucket-<bbb>``, versions = Transit key
versions, ``wrapped`` = Transit ciphertext ``vault:v<n>:...``, destruction = trimming); the steps
below are the same, through ``_bucket_versions``, ``_put_bucket_key``, ``_wrap``, ``_unwrap`` and
``_destroy_version``, the only methods that know where the bucket keys are.
Cost of one erasure: O(subjects in the bucket) = O(S / B) AES-GCM operations, independent of how
many records the subject has. Rotation of the root rewraps B bucket keys; of a bucket, its DEKs.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading

from shared.crypto import DecryptionError, open_sealed, seal
from shared.keysource import FileKeySource, KeySourceError
from shared.store import SqlStore
from shared.transit import TransitBucketKeys, TransitKeyGone


ALL = "*"  # the group of DEKs written before key groups: every category of the generation


def dek_aad(subject_ref: str, generation: int, group: str = ALL) -> bytes:
    """The AAD of a wrapped DEK: ``subject_ref|generation`` (group ``*``) or ``...|group``."""
    return f"{subject_ref}|{generation}".encode() + (b"" if group == ALL else f"|{group}".encode())


class KeyDestroyed(Exception):
    """Raised when a DEK generation was shredded (or never existed): nothing can decrypt."""


def _version(name: str) -> int:
    return int(name.rsplit("/v", 1)[1])


class KeyHierarchy:
    """Creates, unwraps, rotates and destroys the vault's keys. Not thread-safe: callers lock."""

    def __init__(self, source: FileKeySource, store: SqlStore, buckets: int = 64,
                 bucket_source: FileKeySource | None = None,
                 transit: TransitBucketKeys | None = None) -> None:
        self.root_source = source
        self.source = bucket_source or source
        self.transit = transit  # bucket keys in Transit instead of the key source (no root then)
        self.store = store
        self.buckets = buckets
        self._deks: dict[tuple[str, int, str], bytes] = {}
        self._bucket_cache: dict[tuple[int, int], bytes] = {}
        self._lock = threading.RLock()
        self._migrate_groups()
        # A counter bumped by every destruction or rotation, so that replicas drop cached keys.
        store.execute("CREATE TABLE IF NOT EXISTS key_epoch (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)")
        if not store.execute("SELECT n FROM key_epoch WHERE id=1"):
            store.execute("INSERT INTO key_epoch VALUES (1, 0)")
        self._epoch = self._read_epoch()
        self.check_key_source()
        if self.transit is None and not self.root_source.list("vault/root"):
            self.root_source.put("vault/root/v1", os.urandom(32))
        self.reconcile()

    def _migrate_groups(self) -> None:
        """Create ``deks`` keyed by (subject_ref, generation, grp); a table from before key groups
        (keyed by subject_ref, generation) is copied over in one transaction, its rows becoming the
        group ``*``. Schema version 2 is noted in ``key_schema``."""
        store = self.store
        store.execute("CREATE TABLE IF NOT EXISTS key_schema (id INTEGER PRIMARY KEY, v BIGINT NOT NULL)")
        if store.execute("SELECT v FROM key_schema WHERE id=1"):
            return
        store.execute(f"""CREATE TABLE IF NOT EXISTS deks (
            subject_ref TEXT NOT NULL, generation BIGINT NOT NULL, bucket BIGINT NOT NULL,
            bucket_version BIGINT NOT NULL, wrapped {store.blob} NOT NULL,
            PRIMARY KEY (subject_ref, generation))""")
        with store.transaction() as tx:
            tx.execute("DROP TABLE IF EXISTS deks_v2")
            tx.execute(f"""CREATE TABLE deks_v2 (
                subject_ref TEXT NOT NULL, generation BIGINT NOT NULL, bucket BIGINT NOT NULL,
                bucket_version BIGINT NOT NULL, wrapped {store.blob} NOT NULL, grp TEXT NOT NULL,
                PRIMARY KEY (subject_ref, generation, grp))""")
            tx.execute("INSERT INTO deks_v2 SELECT subject_ref, generation, bucket, bucket_version, "
                       f"wrapped, '{ALL}' FROM deks")
            tx.execute("DROP TABLE deks")
            tx.execute("ALTER TABLE deks_v2 RENAME TO deks")
            tx.execute("CREATE INDEX IF NOT EXISTS deks_bucket2 ON deks (bucket)")
            tx.execute("INSERT INTO key_schema VALUES (1, 2)")

    def check_key_source(self) -> None:
        """Refuse a keys.db written with the other key source (LETHE_KEY_SOURCE changed): its DEKs
        would read as destroyed. Raises KeySourceError; moving between sources is not supported."""
        rows = self.store.execute("SELECT wrapped FROM deks LIMIT 1")
        if rows and bytes(rows[0][0]).startswith(b"vault:v") != (self.transit is not None):
            raise KeySourceError("vault/keys.db was written with another key source (LETHE_KEY_SOURCE)")

    # ---- cache coherence across replicas ----
    def _read_epoch(self) -> int:
        return int(self.store.execute("SELECT n FROM key_epoch WHERE id=1")[0][0])

    def _bump(self) -> None:
        self.store.execute("UPDATE key_epoch SET n = n + 1 WHERE id=1")
        self._epoch = self._read_epoch()
        self._deks.clear()
        self._bucket_cache.clear()

    def sync(self) -> None:
        """Drop cached keys when another replica destroyed or rotated keys since the last call."""
        with self._lock:
            epoch = self._read_epoch()
            if epoch != self._epoch:
                self._epoch = epoch
                self._deks.clear()
                self._bucket_cache.clear()

    # ---- root and bucket keys (in the key source) ----
    def _root(self, version: int | None = None) -> tuple[int, bytes]:
        names = self.root_source.list("vault/root")
        version = version or max(_version(n) for n in names)
        return version, self.root_source.get(f"vault/root/v{version}")

    def _bucket_versions(self, bucket: int) -> list[int]:
        if self.transit is not None:
            return self.transit.versions(bucket)
        return sorted(_version(n) for n in self.source.list(f"vault/buckets/{bucket:03d}"))

    def _put_bucket_key(self, bucket: int, version: int, key: bytes) -> None:
        if self.transit is not None:  # Transit makes the key material itself; ``key`` is unused
            self.transit.create(bucket, version)
            return
        name = f"vault/buckets/{bucket:03d}/v{version}"
        root_version, root = self._root()
        self.source.put(name, struct.pack(">I", root_version) + seal(root, key, name.encode()))

    def _bucket_key(self, bucket: int, version: int | None = None) -> tuple[int, bytes]:
        if version is None:
            versions = self._bucket_versions(bucket)
            if not versions:
                self._put_bucket_key(bucket, 1, os.urandom(32))
                versions = [1]
            version = versions[-1]
        if (bucket, version) not in self._bucket_cache:
            name = f"vault/buckets/{bucket:03d}/v{version}"
            try:
                blob = self.source.get(name)
            except KeySourceError:
                raise KeyDestroyed(f"bucket {bucket} v{version} destroyed") from None
            (root_version,) = struct.unpack(">I", blob[:4])
            self._bucket_cache[(bucket, version)] = open_sealed(self._root(root_version)[1],
                                                                blob[4:], name.encode())
        return version, self._bucket_cache[(bucket, version)]

    def _current_version(self, bucket: int) -> int:
        """The newest version of a bucket key, creating v1 on first use."""
        if self.transit is None:
            return self._bucket_key(bucket)[0]
        versions = self._bucket_versions(bucket)
        if not versions:
            self._put_bucket_key(bucket, 1, b"")
            versions = [1]
        return versions[-1]

    def _wrap(self, bucket: int, version: int, dek: bytes, aad: bytes) -> bytes:
        """The ``deks.wrapped`` value of a DEK under a bucket key version."""
        if self.transit is not None:
            return self.transit.wrap(bucket, version, dek, aad)
        return seal(self._bucket_key(bucket, version)[1], dek, aad)

    def _unwrap(self, bucket: int, version: int, wrapped: bytes, aad: bytes) -> bytes:
        """The DEK of a ``deks.wrapped`` value; KeyDestroyed when its bucket key version is gone
        (file: DecryptionError when the value does not open)."""
        if self.transit is not None:
            try:
                return self.transit.unwrap(bucket, version, wrapped, aad)
            except TransitKeyGone:
                raise KeyDestroyed(f"bucket {bucket} v{version} destroyed") from None
        return open_sealed(self._bucket_key(bucket, version)[1], wrapped, aad)

    def _destroy_version(self, bucket: int, version: int) -> None:
        self._bucket_cache.pop((bucket, version), None)
        if self.transit is not None:
            self.transit.destroy(bucket, version)
        else:
            self.source.destroy(f"vault/buckets/{bucket:03d}/v{version}")

    def bucket_of(self, subject_ref: str, generation: int, group: str = ALL) -> int:
        """Bucket number of a DEK (generation, group), in [0, buckets)."""
        digest = hashlib.sha256(dek_aad(subject_ref, generation, group)).digest()
        return int.from_bytes(digest[:8], "big") % self.buckets

    # ---- DEKs (wrapped, in the store) ----
    def create_dek(self, subject_ref: str, generation: int,
                   groups: tuple[str, ...] = (ALL,)) -> int:
        """Create and store the wrapped DEKs of a new generation, one per group, in one
        transaction; returns the bucket of the first group.

        Rows left by a crash before the generation was recorded are reused (never replaced, since
        data may already be sealed under them).
        """
        with self._lock:
            existing = {g for (g,) in self.store.execute(
                "SELECT grp FROM deks WHERE subject_ref=? AND generation=?", (subject_ref, generation))}
            rows, fresh = [], {}
            for group in groups:
                if group in existing:
                    continue
                bucket = self.bucket_of(subject_ref, generation, group)
                version = self._current_version(bucket)
                dek = os.urandom(32)
                rows.append((subject_ref, generation, bucket, version,
                             self._wrap(bucket, version, dek, dek_aad(subject_ref, generation, group)),
                             group))
                fresh[(subject_ref, generation, group)] = dek
            with self.store.transaction() as tx:
                tx.executemany("INSERT INTO deks (subject_ref, generation, bucket, bucket_version, "
                               "wrapped, grp) VALUES (?, ?, ?, ?, ?, ?)", rows)
            self._deks.update(fresh)
            return self.bucket_of(subject_ref, generation, groups[0])

    def groups_of(self, subject_ref: str, generation: int) -> list[str]:
        """The groups of a generation that still have a wrapped DEK row."""
        with self._lock:
            return sorted(g for (g,) in self.store.execute(
                "SELECT grp FROM deks WHERE subject_ref=? AND generation=?", (subject_ref, generation)))

    def dek(self, subject_ref: str, generation: int, group: str = ALL) -> bytes:
        """The plaintext DEK (32 bytes) of a group, or of the group ``*`` of a generation written
        before key groups; raises KeyDestroyed when shredded."""
        with self._lock:
            for key in ((subject_ref, generation, group), (subject_ref, generation, ALL)):
                if key in self._deks:
                    return self._deks[key]
            rows = self.store.execute(
                "SELECT grp, bucket, bucket_version, wrapped FROM deks "
                "WHERE subject_ref=? AND generation=? AND grp IN (?, ?)",
                (subject_ref, generation, group, ALL))
            if not rows:
                raise KeyDestroyed("no key for this generation")
            found, bucket, version, wrapped = sorted(rows, key=lambda r: r[0] == ALL)[0]
            try:
                dek = self._unwrap(int(bucket), int(version), bytes(wrapped),
                                   dek_aad(subject_ref, generation, found))
            except DecryptionError:
                raise KeyDestroyed("key does not unwrap") from None
            self._deks[(subject_ref, generation, found)] = dek
            return dek

    def _rewrap_bucket(self, bucket: int,
                       exclude: tuple[str, int, str] | None = None) -> tuple[int, int]:
        """Move every DEK of ``bucket`` but ``exclude`` to a fresh bucket key; destroy the old ones.

        Write steps, each safe to crash after: (1) put the new version in the key source;
        (2) one transaction rewraps the DEKs; (3) destroy every older version; (4) bump the epoch.
        A crash leaves at most an unused new version (reconcile or the retry destroys it) or old
        versions that a retry destroys. A row whose version is already destroyed (an erasure that
        crashed before deleting it) is left for that erasure's retry. Returns (rewrapped, new
        version); every version below the new one is destroyed when this returns.
        """
        old_versions = self._bucket_versions(bucket)
        new_version = (old_versions[-1] if old_versions else 0) + 1
        new_key = os.urandom(32)
        self._put_bucket_key(bucket, new_version, new_key)
        rows = self.store.execute(
            "SELECT subject_ref, generation, bucket_version, wrapped, grp FROM deks WHERE bucket=?",
            (bucket,))
        updates = []
        rows = [r for r in rows if (r[0], int(r[1]), r[4]) != exclude]
        if self.transit is not None:  # Transit rewraps in one batch; no DEK leaves it
            rewrapped = self.transit.rewrap(bucket, new_version, [
                (int(v), bytes(w), dek_aad(s, int(g), grp)) for s, g, v, w, grp in rows])
            updates = [(new_version, w, s, g, grp) for (s, g, _, _, grp), w in zip(rows, rewrapped) if w]
        for subject_ref, generation, version, wrapped, group in rows if self.transit is None else []:
            aad = dek_aad(subject_ref, int(generation), group)
            try:
                kek = self._bucket_key(bucket, version)[1]
            except KeyDestroyed:
                continue
            dek = open_sealed(kek, bytes(wrapped), aad)
            updates.append((new_version, seal(new_key, dek, aad), subject_ref, generation, group))
        with self.store.transaction() as tx:
            tx.executemany("UPDATE deks SET bucket_version=?, wrapped=? "
                           "WHERE subject_ref=? AND generation=? AND grp=?", updates)
        for version in old_versions:
            self._destroy_version(bucket, version)
        self._bump()
        return len(updates), new_version

    def destroy_dek(self, subject_ref: str, generation: int, group: str = ALL) -> tuple[int, int]:
        """Crypto-shred one DEK (a generation's group); returns (bucket, version): every bucket key version below
        ``version`` is destroyed in the key source.

        Order, so that every prefix is safe: the other DEKs of the bucket move to a new bucket key,
        the old bucket key versions (the only ones that ever wrapped this DEK) are destroyed, and
        only then is the wrapped DEK row deleted. Until the row is gone the erasure is unfinished
        and a retry (this call again) completes it; once the row is gone no copy of it, in any
        backup, can be unwrapped. Safe to call for a generation whose row is already gone: the
        bucket is rotated again, which is what a retry after a crash needs. Raises whatever the key
        source or the store raise; nothing is reported destroyed unless this returns.
        """
        with self._lock:
            self._deks.pop((subject_ref, generation, group), None)
            bucket = self.bucket_of(subject_ref, generation, group)
            _, version = self._rewrap_bucket(bucket, exclude=(subject_ref, generation, group))
            self.store.execute("DELETE FROM deks WHERE subject_ref=? AND generation=? AND grp=?",
                               (subject_ref, generation, group))
            self.store.scrub()
            return bucket, version

    def generations_of(self, subject_ref: str) -> list[int]:
        """Generations of a subject that still have a wrapped DEK row."""
        with self._lock:
            return sorted(int(g) for (g,) in self.store.execute(
                "SELECT DISTINCT generation FROM deks WHERE subject_ref=?", (subject_ref,)))

    def live_versions(self, bucket: int) -> list[int]:
        """Bucket key versions that still exist in the key source (for audits)."""
        with self._lock:
            return self._bucket_versions(bucket)

    def rotate_bucket(self, bucket: int) -> int:
        """Rotate one bucket key (or all with -1); returns the number of DEKs rewrapped."""
        with self._lock:
            targets = range(self.buckets) if bucket < 0 else [bucket]
            return sum(self._rewrap_bucket(b)[0] for b in targets)

    def rotate_root(self) -> int:
        """New root KEK version; rewrap every bucket key; destroy the old root. Returns count.

        With Transit (whose own keyring is the root) every existing bucket key gets a new version
        instead, its DEKs rewrapped and the old versions trimmed; returns the bucket keys rotated.
        """
        with self._lock:
            if self.transit is not None:
                used = [b for b in range(self.buckets) if self._bucket_versions(b)]
                for bucket in used:
                    self._rewrap_bucket(bucket)
                return len(used)
            old = self.root_source.list("vault/root")
            new_version = max(_version(n) for n in old) + 1
            keys = {}
            for bucket in range(self.buckets):
                for version in self._bucket_versions(bucket):
                    try:
                        keys[(bucket, version)] = self._bucket_key(bucket, version)[1]
                    except KeyDestroyed:  # destroyed, not yet unlinked: finish the job
                        self._destroy_version(bucket, version)
            self.root_source.put(f"vault/root/v{new_version}", os.urandom(32))
            for (bucket, version), key in keys.items():
                self._put_bucket_key(bucket, version, key)
            for name in old:
                self.root_source.destroy(name)
            self._bump()
            return len(keys)

    def reconcile(self) -> None:
        """After a crash: destroy bucket key versions that no DEK uses and that are older than the
        newest version a DEK uses (a rotation that stopped before destroying them).

        Never a version newer than every used one: with a ``keys.db`` restored from a backup the
        newest versions belong to rows of a later ``keys.db`` that the operator may still restore.
        A version that a DEK still uses (an erasure not finished) stays until that erasure's retry.
        """
        with self._lock:
            used: dict[int, set[int]] = {}
            for b, v in self.store.execute("SELECT DISTINCT bucket, bucket_version FROM deks"):
                used.setdefault(int(b), set()).add(int(v))
            for bucket, versions in used.items():
                for version in self._bucket_versions(bucket):
                    if version < max(versions) and version not in versions:
                        self._destroy_version(bucket, version)
