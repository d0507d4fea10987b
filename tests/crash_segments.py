"""Run index writes that stop dead at a chosen point, for the segment crash tests to SIGKILL.

python -m tests.crash_segments DATA_DIR STAGE
adds the documents of ``segment_docs()`` one at a time and prints BLOCKED when the index
reaches STAGE, then waits forever:

- ``segment``: half way through writing the last document's segment;
- ``manifest``: that segment written, the manifest not yet switched to it;
- ``merge``: half way through writing a merged segment (in the background merge);
- ``merge-commit``: the merged segment written, the manifest not yet switched to it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag_core.config import Settings
from rag_core.index import builder, merging, segments
from rag_core.library import Library

from .fakes import HashingEmbedder

WORDS = [
    "apple",
    "orchard",
    "harvest",
    "pear",
    "frost",
    "engine",
    "turbine",
    "blade",
    "wear",
    "census",
    "quokka",
    "island",
    "river",
    "bridge",
    "steel",
    "cable",
    "tension",
    "survey",
    "drill",
    "sample",
    "core",
    "granite",
    "basalt",
    "report",
    "audit",
    "ledger",
]


def segment_docs(count: int = 9) -> list[tuple[str, bytes]]:
    """Markdown documents of a heading and a few paragraphs, each with words of its own."""
    docs = []
    for i in range(count):
        paragraphs = [
            " ".join(WORDS[(i * 3 + j * 5 + k) % len(WORDS)] for k in range(6 + j)) + f" item{i}."
            for j in range(4)
        ]
        text = f"# Volume {i}\n\n## Part {i % 3}\n\n" + "\n\n".join(paragraphs)
        docs.append((f"volume-{i}.md", text.encode()))
    return docs


def settings_for(data: Path, **changes: Any) -> Settings:
    """Small chunks; scores fused by value (chunks of equal score keep equal fused scores,
    whatever order two indexes give them)."""
    return Settings(
        data_dir=data,
        db=data / "feedback.db",
        chunk_tokens=24,
        chunk_overlap=0,
        fusion="score",
        **changes,
    )


def block(after_calls: int, real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, which stops the process's progress for good on call ``after_calls``."""
    calls = [0]

    def blocked(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == after_calls:
            print("BLOCKED", flush=True)
            threading.Event().wait()
        return real(*args, **kwargs)

    return blocked


def main() -> None:
    data, stage = Path(sys.argv[1]), sys.argv[2]
    library = Library.open(settings_for(data), embedder=HashingEmbedder())
    docs = segment_docs()
    if stage in ("segment", "manifest"):
        for doc in docs[:-1]:
            library.add([doc])
        library.retriever.snapshots.wait_for_merges()
        if stage == "segment":  # vectors and two fields written, three to go
            segments.save_postings = block(3, segments.save_postings)  # type: ignore[assignment]
        else:
            builder.write_manifest = block(1, builder.write_manifest)  # type: ignore[assignment]
        library.add([docs[-1]])
    else:
        if stage == "merge":
            merging.save_postings = block(2, merging.save_postings)  # type: ignore[assignment]
        else:
            merging.commit_merge = block(1, merging.commit_merge)  # type: ignore[assignment]
        for doc in docs:  # the eighth segment sets off a merge
            library.add([doc])
    print("FINISHED", flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    main()
