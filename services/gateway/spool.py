"""The encrypted local spool: interactions wait here until ingestion has them, exactly once.

An entry is one interaction, written before anything is sent to ingestion and deleted only after
ingestion answered for it, so a gateway crash or an ingestion outage loses nothing. Each entry is a
file ``<spool dir>/<request id>.bin`` (mode 0600, written to a temporary file, fsynced, renamed)::

    0x01 || nonce (12 bytes) || AES-256-GCM(JSON of the interaction) || tag (16 bytes)

sealed by :func:`shared.crypto.seal` under the 32-byte key ``gateway/spool`` of the deployment's
key source, with associated data ``b"lethe.gateway.spool\\0" + request id`` so that entries cannot
be swapped. The request id (a random UUID chosen when the interaction is spooled) stays the same
across every delivery attempt; ingestion derives the interaction id from the content, so a
delivery repeated after a lost answer comes back DUPLICATE and nothing is stored twice.

The JSON keeps only what ingestion needs: the account id, the session id, the client's network
prefix (never the full address), the user agent, region, time, prompt, response, and whether
the turn was interrupted.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from shared.crypto import DecryptionError, open_sealed, seal

_AAD = b"lethe.gateway.spool\0"
STALE_TMP_S = 60.0  # a half-written entry older than this is removed when a gateway starts
log = logging.getLogger("lethe.gateway")


@dataclass(frozen=True)
class SpooledInteraction:
    """One interaction waiting for ingestion (``occurred_at`` ISO 8601 UTC; texts UTF-8;
    ``interrupted``: empty for a whole turn, else the cause, see :mod:`services.gateway.turn`)."""

    request_id: str
    account_id: str
    session_id: str
    network_prefix: str
    user_agent: str
    region: str
    occurred_at: str
    prompt: str
    response: str
    interrupted: str = ""


class Spool:
    """Entries in ``directory`` (created 0700), sealed with ``key`` (32 bytes)."""

    def __init__(self, directory: Path, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("spool key must be 32 bytes")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.key = key
        for tmp in self.directory.glob("*.tmp"):  # a write cut short by a crash: never answered
            if time.time() - _mtime(tmp) > STALE_TMP_S:
                tmp.unlink(missing_ok=True)

    def _path(self, request_id: str) -> Path:
        return self.directory / f"{uuid.UUID(request_id)}.bin"

    def put(self, item: SpooledInteraction) -> None:
        """Write the entry durably (temp file, fsync, rename, fsync of the folder)."""
        blob = seal(self.key, json.dumps(asdict(item), ensure_ascii=False).encode("utf-8"),
                    _AAD + item.request_id.encode("ascii"))
        path = self._path(item.request_id)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, blob)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def pending(self, limit: int) -> list[SpooledInteraction]:
        """Up to ``limit`` entries, oldest first (by modification time, to the file system's
        timestamp granularity: entries written within one tick come in any order). An entry that does not open is left in place
        (renamed ``.bad``) and skipped: a wrong key or tampering never blocks the others."""
        paths = sorted(self.directory.glob("*.bin"), key=_mtime)[:limit]
        items = []
        for path in paths:
            try:
                plain = open_sealed(self.key, path.read_bytes(), _AAD + path.stem.encode("ascii"))
                items.append(SpooledInteraction(**json.loads(plain)))
            except FileNotFoundError:
                continue  # delivered meanwhile by another worker
            except (DecryptionError, ValueError, TypeError):
                log.error("spool entry %s does not open (wrong key or tampered): kept as .bad", path.stem)
                path.rename(path.with_suffix(".bad"))
        return items

    def probe(self) -> None:
        """Create and delete a file in the spool folder; raises OSError when it is not writable
        (read-only, immutable, full)."""
        path = self.directory / f".probe-{uuid.uuid4()}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"\0")
        finally:
            os.close(fd)
            path.unlink(missing_ok=True)

    def remove(self, request_id: str) -> None:
        """Delete a delivered entry (missing is fine: another worker delivered it)."""
        self._path(request_id).unlink(missing_ok=True)

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*.bin"))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
