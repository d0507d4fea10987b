"""Run a sync of a watched folder that stops dead at a chosen stage, for a test to SIGKILL.

python -m tests.crash_sync DATA_DIR FOLDER STAGE FRACTION
adds the folder as source "docs" (unless it is one already) and syncs it; prints BLOCKED when
the sync's ingest reaches STAGE at FRACTION of its batch, then waits forever.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rag_core.config import Settings
from rag_core.library import Library
from rag_core.types import Progress

from .fakes import HashingEmbedder


def settings_for(data: Path) -> Settings:
    return Settings(
        data_dir=data,
        db=data / "feedback.db",
        source_settle_seconds=0,
        chunk_tokens=24,
        chunk_overlap=0,
    )


def main() -> None:
    data_dir, folder, stage, fraction = sys.argv[1:5]
    library = Library.open(settings_for(Path(data_dir)), embedder=HashingEmbedder())
    if not library.sources.statuses():
        library.sources.add(Path(folder), roots=None, name="docs")

    def progress(p: Progress) -> None:
        if p.stage == stage and p.fraction >= float(fraction):
            print("BLOCKED", flush=True)
            time.sleep(3600)

    library.sources.sync("docs", progress=progress)
    print("FINISHED", flush=True)


if __name__ == "__main__":
    main()
