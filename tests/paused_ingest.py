"""Run an ingest that pauses at a chosen stage until told to go on, for the lock tests.

python -m tests.paused_ingest DATA_DIR NAME PDF_PATH STAGE FRACTION
prints PAUSED when the ingest reaches STAGE at FRACTION of the file, waits for a line on
stdin, finishes, and prints the file's status.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rag_core.library import Library
from rag_core.types import Progress

from .fakes import HashingEmbedder
from .test_crash import settings_for


def main() -> None:
    data_dir, name, pdf, stage, fraction = sys.argv[1:6]
    library = Library.open(settings_for(Path(data_dir)), embedder=HashingEmbedder())
    paused = False

    def progress(p: Progress) -> None:
        nonlocal paused
        if not paused and p.stage == stage and p.fraction >= float(fraction):
            paused = True
            print("PAUSED", flush=True)
            sys.stdin.readline()

    (result,) = library.add([(name, Path(pdf).read_bytes())], progress=progress).results
    print(result.status, flush=True)


if __name__ == "__main__":
    main()
