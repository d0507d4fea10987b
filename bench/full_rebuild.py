"""Seconds of one full rebuild of the derived index, by the code of a given checkout, over an
``index_scale.py`` library: that checkout's ``SnapshotBuilder`` writing everything (with
``FOLIO_INDEX_SEGMENTS=false`` where the checkout has segments), into an index folder of its
own, three times; prints the median. Compares the rebuild before issue 17 with this one.

    nice -n 10 python bench/full_rebuild.py /path/to/checkout 100000
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

checkout, size = sys.argv[1], int(sys.argv[2])
sys.path[:0] = [checkout, f"{checkout}/bench"]

from query_latency import RandomDocumentEmbedder  # noqa: E402

import rag_core  # noqa: E402
from rag_core.config import Settings  # noqa: E402
from rag_core.embed.embeddings import SentenceTransformerEmbedder  # noqa: E402
from rag_core.library import Library  # noqa: E402

folder = Path("/tmp/folio-index-scale") / f"chunks-{size}"
settings = Settings(
    data_dir=folder,
    db=folder / "feedback.db",
    index_dir=Path(f"/tmp/folio-rebuild-{time.time_ns()}"),
)
if "index_segments" in Settings.model_fields:
    settings = settings.model_copy(update={"index_segments": False})
library = Library.open(settings, embedder=RandomDocumentEmbedder(SentenceTransformerEmbedder()))
snapshots = library.retriever.snapshots
spent = []
for _ in range(3):
    started = time.perf_counter()
    snapshots._build(snapshots.folder, library.registry.generation())
    spent.append(time.perf_counter() - started)
print(rag_core.__file__, size, "full rebuild s, median of 3:", round(statistics.median(spent), 2))
