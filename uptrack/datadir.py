"""The node's data directory and the lock that keeps a second node out of it."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from uptrack.errors import DataDirLocked

LOCK_FILE = "node.lock"


@contextmanager
def locked_data_dir(path: Path) -> Iterator[Path]:
    """Create `path` if needed and hold an exclusive lock on it while the block runs.

    The lock is an flock on a file in the directory: the kernel drops it when the
    process dies, so a node killed with SIGKILL never leaves a stale lock behind.
    """
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise DataDirLocked(
                f"data directory {path} is in use by another Uptrack node (pid {holder}); "
                "stop it first or give this node its own --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)
