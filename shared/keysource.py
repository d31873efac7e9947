"""The root key source: named secret keys that can be created, read and truly destroyed.

Lethe's key hierarchy (envelope encryption, as in AWS KMS and HashiCorp Vault's transit engine)::

    key source (this module)           data dir (vault's key store)
    ------------------------           ----------------------------
    root KEK  v1, v2 ...  --wraps-->   (nothing: the root never leaves the source)
    bucket keys (intermediate KEKs) are kept *in the source*, wrapped by the root KEK,
    so destroying one is a deletion in the source, not in the immutable/backed-up data dir
                                       per-subject DEKs, wrapped by their bucket key

The key source is the only place that must support true deletion. :class:`FileKeySource` is the
local implementation (a folder outside the data dir, files mode 0600, folder 0700); a cloud KMS or
HSM implements the same four methods. Names are ``/``-separated ASCII paths such as
``vault/buckets/7/v3``; values are raw bytes (keys are 32 bytes = 256 bits).

With ``LETHE_KEY_SOURCE=transit`` the vault's bucket keys are not here at all but in a HashiCorp
Vault / OpenBao Transit engine (:mod:`shared.transit`), where destroying a version is trimming it;
this folder then keeps only the other services' keys (pepper, TLS, audit signing keys).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)*$")


class KeySourceError(Exception):
    """Raised on a missing key or an invalid key name (the message names the key, never its value)."""


class KeySource(Protocol):
    """What the vault and the services need from a key source."""

    def get(self, name: str) -> bytes:
        """Return the key's bytes; raises KeySourceError when it does not exist."""

    def put(self, name: str, value: bytes) -> None:
        """Create or replace a key atomically."""

    def destroy(self, name: str) -> None:
        """Destroy a key so that it can never be read again (idempotent)."""

    def list(self, prefix: str) -> list[str]:
        """Names of the keys under a prefix, sorted."""


class FileKeySource:
    """A key source in a local folder (mode 0700, files 0600).

    ``destroy`` overwrites the file with zeros, fsyncs, then unlinks it. On copy-on-write or
    journaling file systems that is best effort; production deployments use a KMS/HSM source.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)  # created (0700) on the first put; it may be a read-only Secret

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise KeySourceError(f"invalid key name {name!r}")
        return self.root / name

    def get(self, name: str) -> bytes:
        """Return the key's bytes; raises KeySourceError when absent or destroyed.

        A file of zeros is a key whose destruction was interrupted after the overwrite (e.g. the
        folder turned read-only before the unlink): it is destroyed, and ``destroy`` again unlinks it.
        """
        try:
            value = self._path(name).read_bytes()
        except FileNotFoundError:
            raise KeySourceError(f"key {name!r} does not exist") from None
        if not value.strip(b"\0"):
            raise KeySourceError(f"key {name!r} was destroyed")
        return value

    def exists(self, name: str) -> bool:
        """True when the key exists."""
        return self._path(name).exists()

    def put(self, name: str, value: bytes) -> None:
        """Write the key atomically (temp file, fsync, rename), mode 0600."""
        path = self._path(name)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        for parent in reversed(path.relative_to(self.root).parents):  # every new folder 0700
            (self.root / parent).mkdir(exist_ok=True, mode=0o700)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, value)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def get_or_create(self, name: str, size: int = 32) -> bytes:
        """Return the key, creating ``size`` random bytes (os.urandom) on first use.

        Raises KeySourceError when the key is missing and the source is read-only.
        """
        try:
            return self.get(name)
        except KeySourceError:
            try:
                self.put(name, os.urandom(size))
            except OSError:
                raise KeySourceError(f"key {name!r} missing and the key source is read-only") from None
            return self.get(name)

    def destroy(self, name: str) -> None:
        """Overwrite with zeros, fsync and unlink; a missing key is not an error."""
        path = self._path(name)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        with open(path, "r+b") as fh:
            fh.write(b"\0" * size)
            fh.flush()
            os.fsync(fh.fileno())
        path.unlink()

    def list(self, prefix: str) -> list[str]:
        """Names of the keys under ``prefix`` (a folder name), sorted."""
        base = self._path(prefix)
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*")
                      if p.is_file() and not p.name.endswith(".tmp"))
