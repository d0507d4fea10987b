"""Grow a cached ``bench/index_scale.py`` library toward ``size`` chunks, one batch (104
Markdown documents, ~10.4k chunks, one ``Library.add``) at a time, and log per batch: the
seconds of the batch, of its Chroma upserts and of its index update (``SnapshotBuilder``),
then (after waiting for the background merges) three tiny files added one at a time, call to
searchable (median and worst), the segment count with them, the seconds to remove them, and
the process RSS. One JSON line per batch; stop it at any time (the next run goes on from
where the library is). ``--profile-every N``: a cProfile of one tiny add every N batches.

    nice -n 5 python bench/index_growth.py 1000000 --folder-size 1000000
"""

from __future__ import annotations

import argparse
import cProfile
import json
import time
from collections.abc import Callable
from typing import Any

import index_scale as ix
from query_latency import RandomDocumentEmbedder

from rag_core.embed.embeddings import SentenceTransformerEmbedder
from rag_core.index.builder import SnapshotBuilder
from rag_core.index.dense import ChromaStore
from rag_core.library import Library

spent = {"chroma": 0.0, "index": 0.0}


def timed(owner: Any, name: str, key: str) -> None:
    """Add the seconds spent in ``owner.name`` to ``spent[key]`` (the method is unchanged)."""
    real: Callable[..., Any] = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent[key] += time.perf_counter() - started

    setattr(owner, name, counted)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("size", type=int, help="chunks to reach")
    parser.add_argument("--folder-size", type=int, help="the cache folder (default: size)")
    parser.add_argument("--profile-every", type=int, default=0)
    args = parser.parse_args()
    timed(ChromaStore, "upsert", "chroma")
    timed(SnapshotBuilder, "__call__", "index")
    embedder = RandomDocumentEmbedder(SentenceTransformerEmbedder())
    library = Library.open(ix.settings_for(args.folder_size or args.size), embedder=embedder)
    ix.Library.open = lambda *_, **__: library  # type: ignore[method-assign]  # build() reopens
    have = sum(d.chunks for d in library.documents())
    batch = 0
    while have < args.size:
        spent.update(chroma=0.0, index=0.0)
        started = time.perf_counter()
        ix.build(have + 1, embedder)
        took = time.perf_counter() - started
        have = sum(d.chunks for d in library.documents())
        chroma, index = spent["chroma"], spent["index"]
        started = time.perf_counter()
        library.retriever.snapshots.wait_for_merges()
        merges = time.perf_counter() - started
        tag = str(time.time_ns())[-9:]
        batch += 1
        if args.profile_every and batch % args.profile_every == 0:
            profile = cProfile.Profile()
            profile.enable()
            _, profiled = ix.add_tiny(library, tag + "5", 1)
            profile.disable()
            profile.dump_stats(f"tiny-{have}.prof")
            library.remove_many(profiled)
            library.refresh()
        added, tiny = ix.add_tiny(library, tag, 3)
        segments = library.retriever.snapshot().segments
        started = time.perf_counter()
        library.remove_many(tiny)
        library.refresh()
        removed = time.perf_counter() - started
        line = {
            "t": time.strftime("%H:%M:%S"),
            "chunks": have,
            "batch_s": round(took, 1),
            "chroma_s": round(chroma, 1),
            "index_s": round(index, 1),
            "merge_wait_s": round(merges, 1),
            **added,
            "segments": segments,
            "delete3_s": round(removed, 3),
            "rss_gb": ix.rss_gb(),
        }
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
