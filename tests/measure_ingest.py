"""Add files in a fresh process and measure what it cost, for the upload-limit tests.

python -m tests.measure_ingest DATA_DIR FILE [FILE ...]
prints one JSON line: each file's (name, status, error), the growth of the process's peak
resident memory over its resident memory before the upload (MB), and the CPU seconds.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rag_core.config import Settings
from rag_core.library import Library

from .fakes import HashingEmbedder


def memory_kb(field: str, pid: str = "self") -> int:
    """``VmRSS`` or ``VmHWM`` (peak) of a process, in kB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: str = "self") -> None:
    """Start ``VmHWM`` again from the current resident memory (Linux 4.0+)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def main() -> None:
    data_dir = Path(sys.argv[1])
    library = Library.open(
        Settings(data_dir=data_dir, db=data_dir / "feedback.db"), embedder=HashingEmbedder()
    )
    library.add([("warm-up.md", b"# Warm up\n\nEvery module the upload needs is loaded.")])
    uploads = [(Path(f).name, Path(f).read_bytes()) for f in sys.argv[2:]]
    before = memory_kb("VmRSS")
    reset_peak()
    cpu = time.process_time()
    report = library.add(uploads)
    cpu = time.process_time() - cpu
    peak = memory_kb("VmHWM")
    print(
        json.dumps(
            {
                "results": [[r.name, r.status, r.error] for r in report.results],
                "peak_growth_mb": round((peak - before) / 1024, 1),
                "cpu_s": round(cpu, 2),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
