"""Access exports kept under the exports folder, and their deletion as part of an erasure.

Attribution: every access export (``lethe.access-export/v1``) names its subject by
``data_subject.subject_ref`` (``sr_`` + 32 hex digits, 128 bits, the same token in every copy).
A file under ``<data dir>/exports/`` belongs to a subject when its bytes contain that token,
whatever the file's name, extension or depth and whether or not it still parses as JSON (an
export that was renamed, moved into a sub-folder, pretty-printed again or cut short is still
found). The token is a keyed digest, so a file of another subject never matches by accident.
Compressed or encrypted copies do not carry the token in clear and are not found: keep exports
uncompressed under the exports folder, or outside the deployment's responsibility.

Deletion overwrites a file's bytes with zeros (fsync) before unlinking it, so that the data is
not left in the file system's free blocks on file systems that write in place (GDPR Art. 17).
Symbolic links are never followed (an export folder cannot be used to delete files elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path

CHUNK = 1 << 20  # bytes read at a time while scanning (memory stays flat for large files)


def belongs_to(path: Path, subject_ref: str) -> bool:
    """True when the file's bytes contain ``subject_ref`` (scanned in 1 MiB chunks).

    Raises OSError when the file cannot be read.
    """
    token = subject_ref.encode("ascii")
    tail = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            if token in tail + chunk:
                return True
            tail = chunk[-(len(token) - 1):]
    return False


def _shred_file(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        left = size
        while left > 0:
            n = min(left, CHUNK)
            fh.write(b"\0" * n)
            left -= n
        fh.flush()
        os.fsync(fh.fileno())
    path.unlink()


def delete_subject_exports(folder: Path, subject_ref: str) -> int:
    """Overwrite and delete every regular file under ``folder`` (recursively) of ``subject_ref``.

    Returns the number of files deleted; 0 when the folder does not exist. Idempotent: a crash
    half-way is completed by the next call. Raises OSError when a file cannot be read or deleted
    (the erasure then stays open and is retried).
    """
    if not subject_ref or not folder.is_dir():
        return 0
    removed = 0
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                continue
            if belongs_to(path, subject_ref):
                _shred_file(path)
                removed += 1
    return removed
