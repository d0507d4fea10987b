"""Index segments (issue 17): BM25 over several segments scores exactly as one index over the
live rows, after adds, removals and merges; the tiered merge policy; the snapshot view."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from rag_core.index.bm25 import BM25Index
from rag_core.index.merging import MergePolicy, merge_once, plan_merge, tier_of
from rag_core.index.postings import BM25Params, LiveField, build_postings, merge_postings
from rag_core.index.segments import (
    Manifest,
    SegmentEntry,
    SegmentSource,
    read_manifest,
    remove_unused,
    write_manifest,
    write_segment,
)
from rag_core.index.snapshot import load_snapshot

VOCAB = [f"t{i}" for i in range(60)]
METHODS = ["lucene", "robertson", "atire", "bm25l", "bm25+"]


def corpus(seed: int, rows: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    return [list(rng.choice(VOCAB, size=int(rng.integers(0, 25)))) for _ in range(rows)]


def queries(seed: int, count: int = 25) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    # Unknown words and repeated words too: an index ignores the first, counts the second twice.
    return [
        list(rng.choice([*VOCAB, "unknown"], size=int(rng.integers(1, 5)))) for _ in range(count)
    ]


def assert_same_scores(field: LiveField, live_rows: list[list[str]], method: str) -> None:
    oracle = BM25Index(method).build(live_rows)
    for query in queries(3):
        expected, got = oracle.scores(query), field.scores(query)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
        assert ranking(got) == ranking(expected)


def ranking(scores: np.ndarray) -> list[int]:
    """Rows with a score, best first; ties (to float32 noise) broken by row."""
    rows = np.flatnonzero(scores > 0)
    return rows[np.lexsort((rows, -np.round(scores[rows], 5)))].tolist()


@pytest.mark.parametrize("method", METHODS)
def test_segments_with_removed_rows_score_as_one_index_of_the_live_rows(method: str) -> None:
    parts = [corpus(1, 120), corpus(2, 80), corpus(4, 30)]
    live = np.ones(80, dtype=bool)
    live[5:40] = False  # a removed document's rows
    field = LiveField(tuple(map(build_postings, parts)), (None, live, None), BM25Params(method))
    kept = [row for row, alive in zip(parts[1], live, strict=True) if alive]
    assert_same_scores(field, parts[0] + kept + parts[2], method)


@pytest.mark.parametrize("method", METHODS)
def test_merged_postings_score_as_the_segments_they_replace(method: str) -> None:
    a, b = corpus(5, 50), corpus(6, 70)
    remap_b = np.arange(70) + 50
    remap_b[10:20] = -1  # removed: left out of the merged segment
    remap_b[20:] -= 10
    merged = merge_postings([(build_postings(a), np.arange(50)), (build_postings(b), remap_b)])
    assert merged.size == 110
    field = LiveField((merged,), (None,), BM25Params(method))
    assert_same_scores(field, a + b[:10] + b[20:], method)


@pytest.mark.parametrize("method", METHODS)
def test_a_scope_scores_as_an_index_of_its_rows_alone(method: str) -> None:
    # Live rows: 120 of part 0, 45 of part 1 (35 removed), 30 of part 2. The scope spans
    # the end of part 0, the live rows of part 1 and the start of part 2.
    parts = [corpus(1, 120), corpus(2, 80), corpus(4, 30)]
    live = np.ones(80, dtype=bool)
    live[5:40] = False
    field = LiveField(tuple(map(build_postings, parts)), (None, live, None), BM25Params(method))
    rows = parts[0] + [r for r, alive in zip(parts[1], live, strict=True) if alive] + parts[2]
    scope = [(100, 130), (150, 175)]
    inside = [i for a, b in scope for i in range(a, b)]
    oracle = BM25Index(method).build([rows[i] for i in inside])
    for query in queries(3):
        got = field.scores(query, scope)
        np.testing.assert_allclose(got[inside], oracle.scores(query), rtol=1e-6, atol=1e-6)
        outside = np.ones(len(rows), dtype=bool)
        outside[inside] = False
        assert np.all(got[outside] == 0)
    assert np.all(field.scores(["t1"], []) == 0)


def test_a_word_every_scoped_row_holds_weighs_little() -> None:
    # "acme" is rare in the library (one document) but in every row of that document: an
    # index of the document alone gives it almost no weight, so "cash" decides there.
    doc = [["acme", "cash", "q", "r"], ["acme", "acme"]]
    others = [["cash", "y"], ["cash", "z"], ["cash", "w"], ["cash", "v"], ["u"]]
    field = LiveField((build_postings(doc + others),), (None,), BM25Params())
    library = field.scores(["acme", "cash"])
    scoped = field.scores(["acme", "cash"], [(0, 2)])
    assert library[1] > library[0]  # the library's statistics: "acme" twice wins
    assert scoped[0] > scoped[1]  # the document's own: the row with "cash" wins
    assert np.all(scoped[2:] == 0)


def test_a_term_only_removed_rows_held_is_unknown() -> None:
    rows = [["gone", "x"], ["x"], ["y"]]
    live = np.array([False, True, True])
    field = LiveField((build_postings(rows),), (live,), BM25Params())
    assert np.all(field.scores(["gone"]) == 0)
    np.testing.assert_allclose(field.scores(["x"]), BM25Index().build(rows[1:]).scores(["x"]))


def test_tiers_and_the_merge_plan() -> None:
    policy = MergePolicy(fanout=4, floor=10, purge=0.5)
    assert [tier_of(n, policy) for n in (0, 9, 39, 40, 159, 160, 640)] == [0, 0, 0, 1, 1, 2, 3]

    def entry(name: str, rows: int, deleted: int = 0) -> SegmentEntry:
        docs = {f"{name}-live": ("s", rows - deleted), f"{name}-gone": ("s", deleted)}
        return SegmentEntry(name, docs, frozenset({f"{name}-gone"}))

    small = [entry(f"s{i}", 5) for i in range(3)]
    assert plan_merge([entry("big", 100), *small], policy) == []  # three of four in tier 0
    assert plan_merge([entry("big", 100), *small, entry("s3", 8)], policy) == [1, 2, 3, 4]
    # Four tier-1 segments merge once the first tier is not full.
    assert plan_merge([entry(f"m{i}", 50) for i in range(4)], policy) == [0, 1, 2, 3]
    # Most rows of a segment removed: rewritten alone.
    assert plan_merge([entry("big", 100, deleted=60), *small], policy) == [0]
    assert plan_merge([entry("big", 100, deleted=40), *small], policy) == []


def source(docs: dict[str, list[list[str]]], dim: int = 4) -> SegmentSource:
    ids = [f"{d}:{i}" for d, rows in docs.items() for i in range(len(rows))]
    doc_ids = [d for d, rows in docs.items() for _ in rows]
    text = [row for rows in docs.values() for row in rows]
    # Each chunk's vector and flag follow from its id, whatever segment it is written in.
    seeds = [zlib.crc32(i.encode()) for i in ids]
    vectors = np.array(
        [np.random.default_rng(s).standard_normal(dim) for s in seeds], dtype=np.float32
    ).reshape(len(ids), dim)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    dense = np.array([s % 5 != 0 for s in seeds], dtype=bool)
    vectors[~dense] = 0.0  # no vector: a zero row
    return SegmentSource(
        ids=ids,
        doc_ids=doc_ids,
        text=text,
        sections=[row[:2] for row in text],
        grams=[[] for _ in text],
        dense=dense,
        vectors=vectors,
        route={d: (d.split("-"), rows[0] if rows else []) for d, rows in docs.items()},
        stamps=dict.fromkeys(docs, "v1"),
    )


def library_docs(seed: int, count: int) -> dict[str, dict[str, list[list[str]]]]:
    """``count`` segments' worth of documents, a few rows each."""
    rng = np.random.default_rng(seed)
    out = {}
    for s in range(count):
        docs = {}
        for d in range(int(rng.integers(1, 4))):
            docs[f"doc{s}-{d}"] = corpus(seed * 100 + s * 10 + d, int(rng.integers(1, 12)))
        out[f"seg{s}"] = docs
    return out


def test_a_snapshot_of_segments_equals_one_segment_of_its_live_documents(tmp_path: Path) -> None:
    """Adds, removals and merges: every field scores, ranks, filters and finds vectors as an
    index written at once from the live documents does."""
    segmented, single = tmp_path / "segmented", tmp_path / "single"
    batches = library_docs(7, 9)
    manifest = Manifest(1, "m", "jieba", BM25Params())
    for docs in batches.values():
        entry = write_segment(segmented, source(docs))
        manifest = Manifest(1, "m", "jieba", BM25Params(), (*manifest.segments, entry))
    removed = {"doc1-0", "doc4-1", "doc4-0", "doc8-0"}
    manifest = Manifest(
        1,
        "m",
        "jieba",
        BM25Params(),
        tuple(
            SegmentEntry(e.name, e.docs, frozenset(removed & e.docs.keys()))
            for e in manifest.segments
        ),
    )
    write_manifest(segmented, manifest)
    live = {d: rows for docs in batches.values() for d, rows in docs.items() if d not in removed}
    every = source({d: rows for docs in batches.values() for d, rows in docs.items()})
    keep = [i for i, d in enumerate(every.doc_ids) if d not in removed]
    one = SegmentSource(
        ids=[every.ids[i] for i in keep],
        doc_ids=[every.doc_ids[i] for i in keep],
        text=[every.text[i] for i in keep],
        sections=[every.sections[i] for i in keep],
        grams=[[] for _ in keep],
        dense=every.dense[keep],
        vectors=every.vectors[keep],
        route={d: every.route[d] for d in live},
        stamps=dict.fromkeys(live, "v1"),
    )
    write_manifest(single, Manifest(1, "m", "jieba", BM25Params(), (write_segment(single, one),)))
    expected = load_snapshot(single)
    assert expected is not None

    def check() -> None:
        """The same chunks, scores and vectors (merges may change the order of segments)."""
        got = load_snapshot(segmented)
        assert got is not None and expected is not None
        assert sorted(got.ids) == sorted(expected.ids) and len(set(got.ids)) == got.size
        assert {d: got.ids[a:b] for d, (a, b) in got.doc_ranges.items()} == {
            d: expected.ids[a:b] for d, (a, b) in expected.doc_ranges.items()
        }
        assert sorted(got.router_docs) == sorted(expected.router_docs)
        order = [got.row_of[i] for i in expected.ids]  # expected's rows in got
        route_order = [got.router_docs.index(d) for d in expected.router_docs]
        assert got.dense[order].tolist() == expected.dense.tolist()
        for query in queries(11):
            for name, rows in (
                ("bm25", order),
                ("sections", order),
                ("router", route_order),
                ("router_cover", route_order),
            ):
                np.testing.assert_allclose(
                    getattr(got, name).scores(query)[rows],
                    getattr(expected, name).scores(query),
                    rtol=1e-6,
                    atol=1e-6,
                )
        np.testing.assert_array_equal(
            got.vectors_of(order), expected.vectors_of(np.arange(expected.size))
        )
        vector = expected.vectors_of([3])[0]
        docs = ["doc2-0", "doc6-1", "doc8-1", "doc0-0"]
        for left, right in (
            ([(0, got.size)], [(0, expected.size)]),
            (got.ranges_for(docs), expected.ranges_for(docs)),
        ):
            found = [(got.ids[r], s) for r, s in got.dense_search(vector, 7, left)]
            wanted = [(expected.ids[r], s) for r, s in expected.dense_search(vector, 7, right)]
            assert [i for i, _ in found] == [i for i, _ in wanted]
            np.testing.assert_allclose([s for _, s in found], [s for _, s in wanted], rtol=1e-6)
            # The oracle: float64 cosine of every row in the ranges that has a vector.
            rows = [r for a, b in right for r in range(a, b) if expected.dense[r]]
            exact = expected.vectors_of(rows).astype(np.float64) @ vector.astype(np.float64)
            brute = sorted(zip(rows, exact, strict=True), key=lambda p: (-p[1], expected.ids[p[0]]))
            assert [i for i, _ in found] == [expected.ids[r] for r, _ in brute[:7]]
        # Ranges that touch or overlap are their union (a row is found once).
        joined = expected.dense_search(vector, 30, [(5, 9), (0, 5), (3, 12)])
        assert joined == expected.dense_search(vector, 30, [(0, 12)])
        assert len(joined) == int(expected.dense[:12].sum())

    check()
    segments_before = len(read_manifest(segmented).segments)  # type: ignore[union-attr]
    policy = MergePolicy(fanout=3, floor=5, purge=0.3)
    merges = 0
    while merge_once(segmented, policy):
        merges += 1
        check()
    after = read_manifest(segmented)
    assert after is not None and merges >= 2 and len(after.segments) < segments_before
    assert all(not e.deleted for e in after.segments if e.rows > 0 and e.live_rows == e.rows)


def test_a_removal_during_a_merge_stays_removed(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    entries = tuple(write_segment(folder, source(docs)) for docs in library_docs(3, 3).values())
    write_manifest(folder, Manifest(1, "m", "jieba", BM25Params(), entries))
    from rag_core.index import merging

    planned = read_manifest(folder)
    assert planned is not None
    merged = merging.merge_segments(
        folder, planned.segments, [merging.load_segment(folder, e.name) for e in planned.segments]
    )
    # Meanwhile the writer removes a document of the first input.
    gone = next(iter(entries[0].docs))
    changed = tuple(
        SegmentEntry(e.name, e.docs, frozenset({gone}) if i == 0 else e.deleted)
        for i, e in enumerate(entries)
    )
    write_manifest(folder, Manifest(2, "m", "jieba", BM25Params(), changed))
    assert merging.commit_merge(folder, planned.segments, merged)
    manifest = read_manifest(folder)
    assert manifest is not None and manifest.generation == 2
    assert [e.name for e in manifest.segments] == [merged.name]
    assert manifest.segments[0].deleted == {gone}
    snapshot = load_snapshot(folder)
    assert snapshot is not None and gone not in snapshot.doc_ranges
    assert not any(i.startswith(f"{gone}:") for i in snapshot.ids)


def test_unnamed_segments_are_removed_after_the_grace_period(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    named = write_segment(folder, source({"a": [["x"]]}))
    orphan = write_segment(folder, source({"b": [["y"]]}))  # a crash before the manifest
    manifest = Manifest(1, "m", "jieba", BM25Params(), (named,))
    write_manifest(folder, manifest)
    remove_unused(folder, manifest)  # too young: another process may be opening it
    assert (folder / orphan.name).is_dir()
    remove_unused(folder, manifest, grace_s=0)
    assert not (folder / orphan.name).exists() and (folder / named.name).is_dir()


def test_snapshot_row_ids_are_read_from_the_segments(tmp_path: Path) -> None:
    """Row -> chunk id over segments with removed documents (``RowIds``: no tuple of every
    id is built when a snapshot opens): indexing, negative rows, slices, iteration, and
    ``row_of`` its inverse."""
    folder = tmp_path / "index"
    a = write_segment(folder, source({"a": [["x"], ["y"]], "b": [["z"]], "c": [["w"], ["v"]]}))
    empty = write_segment(folder, source({}))
    b = write_segment(folder, source({"d": [["u"]], "e": [["t"], ["s"], ["r"]]}))
    entries = (
        SegmentEntry(a.name, a.docs, frozenset({"b"})),
        empty,
        SegmentEntry(b.name, b.docs, frozenset({"d"})),
    )
    write_manifest(folder, Manifest(1, "m", "jieba", BM25Params(), entries))
    snapshot = load_snapshot(folder)
    assert snapshot is not None
    expected = ["a:0", "a:1", "c:0", "c:1", "e:0", "e:1", "e:2"]
    assert list(snapshot.ids) == expected and len(snapshot.ids) == 7
    assert [snapshot.ids[row] for row in range(7)] == expected
    assert snapshot.ids[np.int64(4)] == "e:0" and snapshot.ids[-1] == "e:2"
    assert snapshot.ids[1:5] == ("a:1", "c:0", "c:1", "e:0")
    assert {i: snapshot.row_of[i] for i in expected} == {i: r for r, i in enumerate(expected)}
    assert snapshot.doc_ranges == {"a": (0, 2), "c": (2, 4), "e": (4, 7)}
    with pytest.raises(IndexError):
        snapshot.ids[7]


def test_the_manifest_is_parsed_again_only_when_its_file_is_another(tmp_path: Path) -> None:
    """``read_manifest`` keeps the last manifest read or written in a folder (it lists every
    document and is read on every change) but never serves it once another writer, here or
    in another process, has renamed a new file over it; written text reads back the same."""
    from rag_core.index import segments

    folder = tmp_path / "index"
    a = write_segment(folder, source({"a": [["x"], ["y"]], "b": [["z"]]}))
    b = write_segment(folder, source({"c": [["w"]]}))
    first = Manifest(1, "m", "jieba", BM25Params(), (a,))
    write_manifest(folder, first)
    assert read_manifest(folder) is first  # what this process wrote: not read back
    assert read_manifest(folder) is read_manifest(folder)
    # Another process writes the next manifest (its own staged file, renamed over).
    second = Manifest(
        2, "m", "jieba", BM25Params(), (SegmentEntry(a.name, a.docs, frozenset("b")), b)
    )
    staged = folder / "SEGMENTS.other"
    staged.write_text(segments.manifest_text(second))
    staged.replace(folder / "SEGMENTS")
    assert read_manifest(folder) == second
    segments._read.clear()  # a process that never read it
    assert read_manifest(folder) == second
    # Segment documents reused as JSON: the same text as encoding every one.
    reused = {a.name: '{"a": ["v1", 2], "b": ["v1", 1]}'}
    assert segments.manifest_text(second, reused) == segments.manifest_text(second)
    (folder / "SEGMENTS").unlink()
    assert read_manifest(folder) is None


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.zeros((0, 384), dtype=np.float32),
        np.array([True, False, True]),
        np.zeros(0, dtype=bool),
        np.arange(5, dtype=np.int64),
        np.arange(7, dtype=np.uint32),
        np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
        np.float32(2.5),
    ],
    ids=["matrix", "no-rows", "flags", "no-flags", "int64", "uint32", "fortran", "scalar"],
)
def test_index_arrays_are_read_without_ast(
    array: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """numpy parses a header with ``ast``, which on CPython 3.11 fails when two threads parse
    at once (gh-106905: a merge thread failed so). The index reads what it wrote without it,
    the same arrays numpy reads, mapped or in memory."""
    import ast

    from rag_core.index import npy

    path = tmp_path / "a.npy"
    np.save(path, array)
    expected = np.load(path)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("ast used while reading an index array")

    monkeypatch.setattr(ast, "literal_eval", refuse)
    monkeypatch.setattr(ast, "parse", refuse)
    with pytest.raises(AssertionError):
        np.load(path)  # the patch bites numpy's own reader
    for got in (npy.load(path), npy.load(path, mmap=True)):
        assert got.dtype == expected.dtype and got.shape == expected.shape
        assert np.array_equal(np.asarray(got), expected)
        assert got.flags.f_contiguous == expected.flags.f_contiguous


def test_a_cut_short_index_array_is_an_error_naming_the_file(tmp_path: Path) -> None:
    from rag_core.index import npy

    path = tmp_path / "vectors.npy"
    np.save(path, np.ones((4, 3), dtype=np.float32))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match=r"vectors\.npy"):
        npy.load(path)
    odd = tmp_path / "odd.npy"
    np.save(odd, np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]))  # a header numpy must read
    assert npy.load(odd).dtype.names == ("a", "b")
