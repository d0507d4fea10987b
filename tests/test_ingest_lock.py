"""The cross-process ingest lock: one holder at a time, released with its holder."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rag_core.ingest.lock import IngestLock

from .conftest import REPO


@pytest.mark.security
def test_one_holder_at_a_time_even_within_a_process(tmp_path):
    path = tmp_path / "locks" / "default.lock"
    first, second = IngestLock(path), IngestLock(path)
    with first.hold():
        assert first.holder() == str(os.getpid())
        with second.try_hold() as held:
            assert held is False
    with second.try_hold() as held:
        assert held is True


@pytest.mark.security
def test_a_killed_holder_lets_go(tmp_path):
    path = tmp_path / "locks" / "default.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from rag_core.ingest.lock import IngestLock\n"
            "with IngestLock(Path(sys.argv[1])).hold():\n"
            "    print('held', flush=True); time.sleep(600)",
            str(path),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with IngestLock(path).try_hold() as held:
            assert held is False
        assert IngestLock(path).holder() == str(holder.pid)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with IngestLock(path).try_hold() as held:
        assert held is True
