"""Index segments in a library (issue 17): what a query finds equals what a full rebuild of
the index finds, after adds, removals, re-indexing and merges; a change is searchable when
``add`` returns; a process killed at any point of a segment write or a merge leaves an index
that is whole after restart."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from rag_core.index.segments import read_manifest
from rag_core.library import Library
from rag_core.store.registry import Registry
from rag_core.types import Document, Filters, SearchResult

from .conftest import REPO
from .crash_segments import segment_docs, settings_for
from .fakes import HashingEmbedder
from .test_library import assert_consistent

QUERIES = [
    "apple orchard harvest",
    "turbine blade wear",
    "granite basalt core sample",
    "item3 census",
    "quokka island bridge",
    "volume 7",
]


def ranked(pairs: tuple[tuple[str, float], ...] | list[tuple[str, float]]) -> list[str]:
    """Ids best first; scores equal to float32 noise ordered by id (row order differs)."""
    return [key for key, score in sorted(pairs, key=lambda p: (-round(p[1], 5), p[0]))]


def assert_same_results(got: SearchResult, expected: SearchResult) -> None:
    legs = {leg.leg: leg for leg in expected.trace.legs}
    for leg in got.trace.legs:
        other = legs[leg.leg]
        assert (leg.status, ranked(leg.ranked)) == (other.status, ranked(other.ranked)), leg.leg
        scores = dict(other.ranked)
        for key, score in leg.ranked:
            assert score == pytest.approx(scores[key], rel=1e-6, abs=1e-6), (leg.leg, key)
    assert ranked([(h.chunk.id, h.score) for h in got.hits]) == ranked(
        [(h.chunk.id, h.score) for h in expected.hits]
    )


def full_rebuild(data: Path, folder: Path) -> Library:
    """The same registry with its index written whole, in a folder of its own (the oracle)."""
    settings = settings_for(data, index_segments=False, index_dir=folder)
    library = Library.open(settings, embedder=HashingEmbedder())
    library.refresh()
    return library


def assert_like_full_rebuild(library: Library, data: Path, oracle_dir: Path) -> None:
    library.refresh()
    oracle = full_rebuild(data, oracle_dir)
    assert oracle.retriever.snapshot().segments == 1
    docs = [d.id for d in library.documents() if d.status == "ready"]
    some = Filters(doc_ids=tuple(docs[::2]))
    for query in QUERIES:
        assert_same_results(library.search(query, k=8), oracle.search(query, k=8))
        assert_same_results(
            library.search(query, k=8, filters=some), oracle.search(query, k=8, filters=some)
        )
    assert_consistent(library)


def test_segments_search_as_a_full_rebuild_after_adds_removals_and_merges(tmp_path: Path) -> None:
    data = tmp_path / "data"
    library = Library.open(settings_for(data), embedder=HashingEmbedder())
    added = []
    for i, doc in enumerate(segment_docs(12)):
        [result] = library.add([doc]).results
        added.append(result.doc_id)
        # Read-your-writes: the document is found as soon as ``add`` returns.
        top = library.search(f"item{i}", k=1, legs=("bm25",)).hits
        assert top and top[0].doc_name == doc[0]
        library.retriever.snapshots.wait_for_merges()
        assert_consistent(library)
    # Twelve adds, one segment each: a merge of eight has run in the background.
    manifest = read_manifest(data / "index" / "default")
    assert manifest is not None and 2 <= len(manifest.segments) < 12
    library.remove(added[1])
    library.remove(added[9])
    library.rename(added[4], "renamed-volume.md")  # indexed again: a new version
    assert_like_full_rebuild(library, data, tmp_path / "oracle-1")
    snapshot = library.retriever.snapshot()
    assert snapshot.segments >= 2 and added[1] not in snapshot.doc_ranges
    assert library.search("item1", k=3, legs=("bm25",)).hits[0].doc_name != "volume-1.md"


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["segment", "manifest", "merge", "merge-commit"])
def test_a_process_killed_while_writing_the_index_leaves_a_whole_one(
    tmp_path: Path, stage: str
) -> None:
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_segments", str(data), stage],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        line = ""
        while line != "BLOCKED" and time.monotonic() < deadline:
            line = proc.stdout.readline().strip() if proc.stdout else ""
            assert line in ("BLOCKED", "FINISHED"), f"the index did not reach {stage}: {line!r}"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    folder = data / "index" / "default"
    before = read_manifest(folder)
    assert before is not None  # the manifest of the last whole change
    # The segment cut short (or written whole but never named) is in no manifest.
    assert {p.name for p in folder.glob("seg-*")} - {e.name for e in before.segments}
    library = Library.open(settings_for(data), embedder=HashingEmbedder())
    ready = [d.name for d in library.documents() if d.status == "ready"]
    assert len(ready) == 9
    for i in range(9):  # every document, the one whose segment was cut short too
        assert library.search(f"item{i}", k=1, legs=("bm25",)).hits[0].doc_name == f"volume-{i}.md"
    assert_like_full_rebuild(library, data, tmp_path / "oracle")
    library.retriever.snapshots.wait_for_merges()  # a merge cut short is done again
    after = read_manifest(folder)
    assert after is not None and len(after.segments) < 9
    assert_like_full_rebuild(library, data, tmp_path / "oracle-after")


def test_an_index_of_an_older_folio_is_written_again_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    library = Library.open(settings_for(data), embedder=HashingEmbedder())
    library.add(segment_docs(2))
    folder = data / "index" / "default"
    # What Folio before segments left: a snapshot folder named by CURRENT, no manifest.
    (folder / "SEGMENTS").unlink()
    (folder / "gen-00000003-0a1b2c3d").mkdir()
    (folder / "CURRENT").write_text("gen-00000003-0a1b2c3d")
    reopened = Library.open(settings_for(data), embedder=HashingEmbedder())
    assert reopened.search("item1", k=1, legs=("bm25",)).hits[0].doc_name == "volume-1.md"
    manifest = read_manifest(folder)
    assert manifest is not None and len(manifest.segments) == 1
    assert not (folder / "gen-00000003-0a1b2c3d").exists()
    written = manifest.segments[0].name
    reopened.add(segment_docs(3)[2:])  # from now on, one segment per change
    after = read_manifest(folder)
    assert after is not None and after.segments[0].name == written
    assert len(after.segments) == 2


def test_a_change_decodes_only_the_documents_it_writes(tmp_path: Path) -> None:
    """The index update reads every document's stamp in one light query; whole documents
    (metadata decoded) only for those going into the new segment. ``Registry.documents``
    (every row decoded) is not called by ``add`` or ``remove``: at 1M chunks (10k documents)
    it took 0.7 s, twice per change. OCR's sync looks up only the documents it holds rows
    of, not every document's id."""
    data = tmp_path / "data"
    library = Library.open(settings_for(data, ocr="on"), embedder=HashingEmbedder())
    first = library.add(segment_docs(3)).results
    registry = library.registry
    whole = registry.documents
    decoded: list[list[str]] = []

    def documents_of(doc_ids: Sequence[str]) -> list[Document]:
        decoded.append(sorted(doc_ids))
        return Registry.documents_of(registry, doc_ids)

    def documents() -> list[Document]:
        raise AssertionError("every document decoded on a change")

    def doc_ids(statuses: Sequence[str], among: Iterable[str] | None = None) -> set[str]:
        assert among is not None, "every document's id listed on a change"
        return Registry.doc_ids(registry, statuses, among)

    registry.documents = documents  # type: ignore[method-assign]
    registry.documents_of = documents_of  # type: ignore[method-assign]
    registry.doc_ids = doc_ids  # type: ignore[method-assign]
    [added] = library.add(segment_docs(4)[3:]).results
    assert library.search("item3", k=1, legs=("bm25",)).hits[0].doc_name == "volume-3.md"
    library.remove(first[0].doc_id or "")
    library.refresh()
    assert decoded == [[added.doc_id]]  # the removal decodes nothing
    registry.documents = whole  # type: ignore[method-assign]
    snapshot = library.retriever.snapshot()
    assert sorted(snapshot.doc_ranges) == sorted(
        [r.doc_id for r in first[1:]] + [added.doc_id]  # type: ignore[list-item]
    )
    assert_like_full_rebuild(library, data, tmp_path / "oracle")


def test_registry_light_document_queries(tmp_path: Path) -> None:
    data = tmp_path / "data"
    library = Library.open(settings_for(data), embedder=HashingEmbedder())
    ids = [r.doc_id for r in library.add(segment_docs(3)).results]
    registry = library.registry
    docs = {d.id: d for d in registry.documents()}
    stored = {i: docs[i].added_at.isoformat(timespec="microseconds") for i in ids}
    assert registry.ready_versions() == {i: (stored[i], docs[i].chunks) for i in ids}
    assert registry.documents_of([ids[2], "nope", ids[0], ids[2]]) == [docs[ids[0]], docs[ids[2]]]
    assert registry.doc_ids(("ready",)) == set(ids)
    library.remove(ids[1])
    assert registry.doc_ids(("ready", "indexing")) == {ids[0], ids[2]}
    assert set(registry.ready_versions()) == {ids[0], ids[2]}
    among = [ids[1], ids[2], "nope"]  # removed, ready, never was
    assert registry.doc_ids(("ready", "indexing"), among=among) == {ids[2]}
    assert registry.doc_ids(("ready",), among=[]) == set()
    assert registry.documents_of([]) == []
