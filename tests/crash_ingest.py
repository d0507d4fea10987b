"""Run an ingest that stops dead at a chosen stage, for the crash tests to SIGKILL.

python -m tests.crash_ingest DATA_DIR NAME PDF_PATH STAGE FRACTION [DATABASE_URL]
prints BLOCKED when the ingest reaches STAGE at FRACTION of the file, then waits forever.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rag_core.config import Settings
from rag_core.library import Library
from rag_core.types import Progress

from .fakes import HashingEmbedder


def main() -> None:
    data_dir, name, pdf, stage, fraction = sys.argv[1:6]
    settings = Settings(
        data_dir=Path(data_dir),
        db=Path(data_dir) / "feedback.db",
        database_url=sys.argv[6] if len(sys.argv) > 6 else None,
        chunk_tokens=24,
        chunk_overlap=0,
    )
    library = Library.open(settings, embedder=HashingEmbedder())

    def progress(p: Progress) -> None:
        if p.stage == stage and p.fraction >= float(fraction):
            print("BLOCKED", flush=True)
            time.sleep(3600)

    library.add([(name, Path(pdf).read_bytes())], progress=progress)
    print("FINISHED", flush=True)


if __name__ == "__main__":
    main()
