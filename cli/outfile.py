"""Files the CLI writes for the operator (access exports, disclosures): private and atomic.

An output path is written through a new temporary file in the same folder, created with mode
0600 and ``O_EXCL`` (``tempfile.mkstemp``), then renamed over the path. So the file never keeps
an older file's mode, a reader never sees half a file, and a failed command leaves the old file
as it was. A symlink at the path is refused (``ELOOP``): the CLI never writes through a link
into a file somebody else chose, and the link's target is left untouched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def check_target(path: Path) -> None:
    """Raise OSError (ELOOP) if ``path`` is a symlink, (EISDIR/EEXIST) if it is not a regular file."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise OSError(errno.ELOOP, "refusing to write through a symlink", str(path))
    if not stat.S_ISREG(mode):
        raise OSError(errno.EEXIST, "exists and is not a regular file", str(path))


@contextlib.contextmanager
def private_output(path: Path) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` (mode 0600) when the block ends without error.

    Raises:
        OSError: the path is a symlink or not a regular file, or the folder is not writable.
    """
    path = Path(path)
    check_target(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        check_target(path)  # still not a link: rename replaces a link anyway, never follows it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
