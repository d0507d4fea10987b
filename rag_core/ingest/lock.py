"""The ingest lock: one process at a time adds, removes or repairs a workspace's documents.

A ``threading.Lock`` orders the threads of one process; this lock orders processes over one
data folder (the server and a CLI command, two CLI commands). It is an ``flock`` on
``<data_dir>/locks/<workspace>.lock``: the kernel releases it when its process ends,
however it ends, so a lock never outlives a crash and the next process that takes it may
repair what the crash left. Every open of the file is its own holder: two libraries of one
workspace in one process exclude each other too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class IngestLock:
    def __init__(self, path: Path) -> None:
        self.path = path  # nothing is opened until the lock is taken

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the lock for the block, waiting for another process to let it go."""
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _write_holder(fd)
            yield
        finally:
            os.close(fd)  # releases the lock

    @contextlib.contextmanager
    def try_hold(self) -> Iterator[bool]:
        """Hold the lock for the block if no one else holds it: ``True``; else ``False`` at
        once (the block runs either way)."""
        fd = self._open()
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            _write_holder(fd)
            yield True
        finally:
            os.close(fd)

    def holder(self) -> str:
        """The process id the last holder wrote, for messages ("" when unknown)."""
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)


def _write_holder(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
