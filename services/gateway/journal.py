"""The spool's journal: append-only segment files of sealed, length-framed records.

A segment (``<spool dir>/<random hex>.journal``, mode 0600) is a sequence of records::

    header (28 bytes) = b"LJ" || 0x01 || kind (1 byte) || request id (16 bytes, UUID)
                        || sealed length (4 bytes, big-endian) || CRC-32 of the 24 bytes before
    sealed            = 0x01 || nonce (12) || AES-256-GCM(payload) || tag (16)

``kind`` is ``T`` (a turn: the payload is its JSON) or ``D`` (the turn ``request id`` was
delivered: the payload is empty). Both are sealed by :func:`shared.crypto.seal` under the spool
key, with associated data ``b"lethe.gateway.journal\\0" || kind || request id`` so that nothing
on disk is in clear, no record can be forged or moved to another id, and a ``D`` cannot be made
from a ``T``. The CRC guards the header: a record whose header checks but whose seal does not
open (a flipped bit, or a write torn before later records were appended) is returned refused
(``payload`` None); after it, and after a header that does not check, :func:`scan` looks for the
next header that does, byte by byte, so a damaged record never hides the ones after it. A record
cut short by the end of the file (the torn tail of a crash) is never returned.

A segment belongs to the process that holds its ``flock`` (POSIX ``flock(2)``, released by the
kernel when the process dies, even by SIGKILL); a segment nobody holds is an orphan that the
next gateway adopts (:mod:`services.gateway.spool`).
"""

from __future__ import annotations

import fcntl
import os
import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.crypto import DecryptionError, open_sealed, seal

MAGIC = b"LJ\x01"
TURN, DELIVERED = b"T", b"D"
_HEAD = struct.Struct(">3sc16sI")  # magic+version, kind, request id, sealed length
HEADER_BYTES = _HEAD.size + 4  # 28
MAX_SEALED_BYTES = 4 << 20  # a turn is at most two 256 KiB texts plus metadata
_AAD = b"lethe.gateway.journal\0"
SUFFIX = ".journal"


@dataclass(frozen=True)
class Record:
    """One record found by :func:`scan`: ``payload`` is None when its seal did not open
    (``offset``/``size``: where the whole record lies in the segment, bytes)."""

    kind: bytes
    request_id: str
    offset: int
    size: int
    payload: bytes | None


def frame(key: bytes, kind: bytes, request_id: str, payload: bytes) -> bytes:
    """One record's bytes; raises ValueError for a bad key or request id, or a payload over
    :data:`MAX_SEALED_BYTES`."""
    rid = uuid.UUID(request_id).bytes
    sealed = seal(key, payload, _AAD + kind + rid)
    if len(sealed) > MAX_SEALED_BYTES:
        raise ValueError("journal record too large")
    head = _HEAD.pack(MAGIC, kind, rid, len(sealed))
    return head + struct.pack(">I", zlib.crc32(head)) + sealed


def _header_at(data: bytes, pos: int) -> tuple[bytes, bytes, int] | None:
    """(kind, request id bytes, sealed length) when a checked header starts at ``pos``."""
    if len(data) - pos < HEADER_BYTES:
        return None
    head = data[pos:pos + _HEAD.size]
    magic, kind, rid, length = _HEAD.unpack(head)
    if magic != MAGIC or kind not in (TURN, DELIVERED) or length > MAX_SEALED_BYTES:
        return None
    if struct.unpack_from(">I", data, pos + _HEAD.size)[0] != zlib.crc32(head):
        return None
    return kind, rid, length


def scan(key: bytes, data: bytes) -> Iterator[Record]:
    """The records of a segment's bytes, in order (see the module docstring)."""
    pos = 0
    while pos < len(data):
        found = _header_at(data, pos)
        if found is None:
            nxt = data.find(MAGIC, pos + 1)
            if nxt < 0:
                return
            pos = nxt
            continue
        kind, rid, length = found
        end = pos + HEADER_BYTES + length
        if end > len(data):  # the torn tail of a write cut short
            nxt = data.find(MAGIC, pos + 1)
            pos = nxt if nxt >= 0 else len(data)
            continue
        try:
            payload: bytes | None = open_sealed(key, data[pos + HEADER_BYTES:end], _AAD + kind + rid)
        except DecryptionError:
            payload = None
        yield Record(kind, str(uuid.UUID(bytes=rid)), pos, end - pos, payload)
        if payload is None:  # a record torn before the next one was appended: resync
            nxt = data.find(MAGIC, pos + 1)
            end = nxt if nxt >= 0 else len(data)
        pos = end


class Segment:
    """An open segment file, locked (``flock``) by this process for as long as it is open."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd
        self.size = os.fstat(fd).st_size

    @classmethod
    def create(cls, directory: Path) -> Segment:
        """A new empty segment: made as ``.new``, locked, then renamed (so that no other process
        sees it unlocked) and the folder fsynced. Raises OSError."""
        name = uuid.uuid4().hex
        tmp = directory / f"{name}.new"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path = directory / f"{name}{SUFFIX}"
            os.replace(tmp, path)
            sync_dir(directory)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        return cls(path, fd)

    @classmethod
    def adopt(cls, path: Path) -> Segment | None:
        """The segment at ``path`` when no live process holds it (else None, or when it was
        deleted meanwhile). Raises OSError on other errors."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return cls(path, fd)
        except (BlockingIOError, FileNotFoundError):
            pass
        os.close(fd)
        return None

    def read(self) -> bytes:
        """The whole segment as it is on disk."""
        return os.pread(self.fd, max(self.size, os.fstat(self.fd).st_size), 0)

    def read_at(self, offset: int, size: int) -> bytes:
        """``size`` bytes from ``offset``."""
        return os.pread(self.fd, size, offset)

    def append(self, data: bytes, sync: bool) -> int:
        """Write ``data`` at the end (then ``fdatasync`` when ``sync``); returns its offset.
        A write that fails part-way is cut off again (``ftruncate``) before the error is raised,
        so later records follow the last whole one. Raises OSError."""
        offset, view = self.size, memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view):]
            if sync:
                os.fdatasync(self.fd)
        except OSError:
            try:
                os.ftruncate(self.fd, offset)
            except OSError:
                pass  # scan() skips the torn bytes
            self.size = os.fstat(self.fd).st_size
            raise
        self.size = offset + len(data)
        return offset

    def close(self, delete: bool = False, keep_as: str = "") -> None:
        """Close (and unlink, or rename to suffix ``keep_as``), which releases the lock."""
        if delete:
            self.path.unlink(missing_ok=True)
        elif keep_as:
            self.path.rename(self.path.with_suffix(keep_as))
        os.close(self.fd)


def sync_dir(directory: Path) -> None:
    """fsync a folder (makes a file's creation, rename or deletion durable). Raises OSError."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
