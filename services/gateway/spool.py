"""The encrypted local spool: interactions wait here until ingestion has them, exactly once.

An entry is one interaction, written durably before the end of its answer is sent and marked
delivered only after ingestion answered for it, so a gateway crash or an ingestion outage loses
nothing. Entries are records in this process's journal segments (:mod:`services.gateway.journal`:
append-only, sealed with AES-256-GCM under the 32-byte key ``gateway/spool``, length-framed and
checked). :meth:`Spool.put_many` writes a group of turns with one ``write`` and one
``fdatasync`` (group commit: the writer, :mod:`services.gateway.recorder`, takes every turn
completed while the previous group was being synced). A delivered entry gets a sealed ``D``
record, not synced: after a crash it may be delivered again, which ingestion answers DUPLICATE
(the request id, a random UUID chosen when the interaction is spooled, stays the same across
attempts, and ingestion derives the interaction id from the content). The active segment is
rotated past :data:`SEGMENT_BYTES`; a segment is deleted once all its entries are delivered, or
kept renamed ``.bad`` when one of them did not open (wrong key or tampering: the others deliver).

Segments left by a gateway that stopped or died are adopted by the next one (at start and
whenever :meth:`Spool.adopt` is called), each by one process at a time (``flock``). Entries of
the former one-file-per-turn spool (``<request id>.bin``) are moved into the journal at start.

The JSON keeps only what ingestion needs: the account id, the session id, the client's network
prefix (never the full address), the user agent, region, time, prompt, response, and whether
the turn was interrupted.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from services.gateway.journal import DELIVERED, SUFFIX, TURN, Segment, frame, scan
from shared.crypto import DecryptionError, open_sealed

SEGMENT_BYTES = 8 << 20  # rotate the active segment past this size
STALE_TMP_S = 60.0  # a half-made file older than this is removed when a gateway starts
_LEGACY_AAD = b"lethe.gateway.spool\0"
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


@dataclass(eq=False)
class _Held:
    """A segment this process holds: ids not yet delivered, and how many records were refused."""

    segment: Segment
    live: set[str] = field(default_factory=set)
    refused: int = 0


class Spool:
    """Entries in ``directory`` (created 0700), sealed with ``key`` (32 bytes). Thread-safe."""

    def __init__(self, directory: Path, key: bytes, segment_bytes: int = SEGMENT_BYTES) -> None:
        if len(key) != 32:
            raise ValueError("spool key must be 32 bytes")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.key, self.segment_bytes = key, segment_bytes
        self._lock = threading.Lock()
        self._active: _Held | None = None
        self._held: dict[Path, _Held] = {}
        self._index: dict[str, tuple[_Held, int, int]] = {}  # id -> (segment, offset, size), oldest first
        for pattern in ("*.new", "*.tmp"):  # a segment or entry whose making was cut short
            for tmp in self.directory.glob(pattern):
                if time.time() - _mtime(tmp) > STALE_TMP_S:
                    tmp.unlink(missing_ok=True)
        self.adopt()
        self._import_legacy()

    def put(self, item: SpooledInteraction) -> None:
        """Write one entry durably; see :meth:`put_many`."""
        self.put_many([item])

    def put_many(self, items: list[SpooledInteraction]) -> None:
        """Write the entries durably: one append and one ``fdatasync`` for all of them.
        Raises OSError (nothing of the group is then pending) or ValueError (bad id, too large)."""
        frames = [frame(self.key, TURN, i.request_id,
                        json.dumps(asdict(i), ensure_ascii=False).encode("utf-8")) for i in items]
        with self._lock:
            held = self._writable()
            offset = held.segment.append(b"".join(frames), sync=True)
            for item, data in zip(items, frames):
                self._index[item.request_id] = (held, offset, len(data))
                held.live.add(item.request_id)
                offset += len(data)

    def _writable(self) -> _Held:
        if self._active is None or self._active.segment.size >= self.segment_bytes:
            old, self._active = self._active, _Held(Segment.create(self.directory))
            self._held[self._active.segment.path] = self._active
            if old is not None:
                self._settle(old)
        return self._active

    def pending(self, limit: int) -> list[SpooledInteraction]:
        """Up to ``limit`` undelivered entries, oldest first. An entry that does not open is
        refused (logged by request id, never its content) and skipped: it never blocks the others."""
        items = []
        with self._lock:
            for request_id, (held, offset, size) in list(self._index.items())[:limit]:
                try:
                    [record] = scan(self.key, held.segment.read_at(offset, size))
                    if record.payload is None or record.request_id != request_id:
                        raise DecryptionError("does not open")
                    items.append(SpooledInteraction(**json.loads(record.payload)))
                except (DecryptionError, ValueError, TypeError, OSError):
                    log.error("spool entry %s does not open (wrong key or tampered): refused", request_id)
                    del self._index[request_id]
                    held.live.discard(request_id)
                    held.refused += 1
                    self._settle(held)
        return items

    def remove(self, request_id: str) -> None:
        """Mark an entry delivered (unknown ids are fine: delivered already, or not ours)."""
        with self._lock:
            found = self._index.pop(request_id, None)
            if found is None:
                return
            held = found[0]
            held.live.discard(request_id)
            try:
                held.segment.append(frame(self.key, DELIVERED, request_id, b""), sync=False)
            except OSError:
                log.warning("could not mark spool entry %s delivered: it may be sent again", request_id)
            self._settle(held)

    def _settle(self, held: _Held) -> None:
        """Close a segment that has nothing left to deliver (not the active one): deleted, or
        kept as ``.bad`` when it holds refused entries. Called with the lock held."""
        if held.live or held is self._active:
            return
        self._held.pop(held.segment.path, None)
        try:
            held.segment.close(delete=not held.refused, keep_as=".bad" if held.refused else "")
        except OSError:
            log.warning("could not remove a delivered spool segment")

    def adopt(self) -> int:
        """Take over the segments no live process holds; returns how many entries they add."""
        added = 0
        for path in sorted(self.directory.glob(f"*{SUFFIX}"), key=_mtime):
            with self._lock:
                if path in self._held or (segment := Segment.adopt(path)) is None:
                    continue
                held = _Held(segment)
                self._held[path] = held
                records = list(scan(self.key, segment.read()))
                done = {r.request_id for r in records if r.kind == DELIVERED and r.payload is not None}
                for r in records:
                    if r.kind != TURN or r.request_id in done or r.request_id in self._index:
                        continue
                    if r.payload is None:
                        log.error("spool entry %s does not open (wrong key or tampered): refused",
                                  r.request_id)
                        held.refused += 1
                        continue
                    self._index[r.request_id] = (held, r.offset, r.size)
                    held.live.add(r.request_id)
                    added += 1
                self._settle(held)
        return added

    def _import_legacy(self) -> None:
        """Move entries of the one-file-per-turn spool into the journal (durably, then unlink)."""
        for path in sorted(self.directory.glob("*.bin"), key=_mtime):
            try:
                plain = open_sealed(self.key, path.read_bytes(), _LEGACY_AAD + path.stem.encode("ascii"))
                self.put(SpooledInteraction(**json.loads(plain)))
            except (DecryptionError, ValueError, TypeError):
                log.error("spool entry %s does not open (wrong key or tampered): kept as .bad", path.stem)
                path.rename(path.with_suffix(".bad"))
                continue
            path.unlink(missing_ok=True)

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

    def close(self) -> None:
        """Release every segment (undelivered ones stay for the next gateway)."""
        with self._lock:
            self._active = None
            for held in list(self._held.values()):
                if held.live:
                    self._held.pop(held.segment.path)
                    held.segment.close()
                else:
                    self._settle(held)

    def __len__(self) -> int:
        return len(self._index)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
