"""The library end to end with real Chroma, real SQLite and generated PDFs (hashing embedder)."""

from __future__ import annotations

import math

import pytest

from rag_core.errors import ConfigurationError
from rag_core.library import Library
from rag_core.types import DocumentMetadata, Filters

from .fakes import HashingEmbedder
from .pdfs import IMAGE_ONLY, corrupt, make_pdf

APPLES = [
    "Orchard Report\n\nApple harvest rose to 120 tonnes in 2020. The orchard hired six pickers.",
    IMAGE_ONLY,
    "Pear trees suffered from frost in April. Pear output fell by half.",
]
ENGINES = [
    "Engine Manual\n\nChange the engine oil every 5000 kilometres. Use oil grade 5W-30.",
    "The turbocharger needs inspection every two years.",
]
CHINESE = [
    "年度报告\n\n公司营业收入增长了百分之十二。净利润达到五十亿元。",
    "董事会决定向股东分红。",
]


def chroma_ids(library: Library) -> set[str]:
    return library.ingestor.chroma.ids()


def ready_dense_ids(library: Library) -> set[str]:
    return {r[0] for r in library.registry.iter_ready_chunks() if r[3]}


def assert_consistent(library: Library) -> None:
    """Chroma, the snapshot and the registry agree; nothing waits to be deleted."""
    assert chroma_ids(library) == ready_dense_ids(library)
    snapshot = library.retriever.snapshot()
    assert set(snapshot.ids) == {r[0] for r in library.registry.iter_ready_chunks()}
    assert library.registry.pending_deletes() == []


def test_add_search_and_page_numbers(library: Library):
    report = library.add(
        [("orchard_2020.pdf", make_pdf(APPLES)), ("engine.pdf", make_pdf(ENGINES))]
    )
    assert [(r.name, r.status, r.pages, r.pages_without_text) for r in report.results] == [
        ("orchard_2020.pdf", "added", 3, 1),
        ("engine.pdf", "added", 2, 0),
    ]
    result = library.search("pear frost", k=3)
    top = result.hits[0]
    assert (top.doc_name, top.chunk.page, top.chunk.page_number) == ("orchard_2020.pdf", 2, 3)
    assert top.chunk.text == "Pear trees suffered from frost in April. Pear output fell by half."
    assert library.page_text(top.chunk.doc_id, 2)[top.chunk.start : top.chunk.end] == top.chunk.text
    assert {lr.leg for lr in top.legs} == {"bm25", "dense"}
    assert library.page_image(top.chunk.doc_id, 1) is not None  # the image-only page is rendered
    from PIL import Image

    with Image.open(library.page_image(top.chunk.doc_id, 1, thumbnail=True)) as thumb:
        assert thumb.width == library.settings.thumb_width and thumb.format == "JPEG"
    with Image.open(library.page_image(top.chunk.doc_id, 1)) as full:
        assert full.width == math.ceil(595.2756 * library.settings.render_dpi / 72)  # A4
    assert_consistent(library)


def test_same_file_twice_is_a_no_op(library: Library, embedder: HashingEmbedder):
    data = make_pdf(APPLES)
    library.add([("orchard.pdf", data)])
    calls = embedder.embedded_count
    generation = library.registry.generation()
    again = library.add([("orchard.pdf", data), ("copy-of-orchard.pdf", data)])
    assert [r.status for r in again.results] == ["unchanged", "unchanged"]
    assert embedder.embedded_count == calls
    assert library.registry.generation() == generation
    engine = make_pdf(ENGINES)
    twins = library.add([("engine.pdf", engine), ("engine-copy.pdf", engine)])
    assert [r.status for r in twins.results] == ["added", "unchanged"]
    assert [d.name for d in library.documents()] == ["orchard.pdf", "engine.pdf"]


def test_changed_file_replaces_old_version_and_embeds_only_changed_pages(
    library: Library, embedder: HashingEmbedder
):
    pages = [
        f"Chapter {i}\n\nSection {i} text about topic number {i} and more words." for i in range(6)
    ]
    first = library.add([("manual.pdf", make_pdf(pages))]).results[0]
    old_id = first.doc_id
    before = embedder.embedded_count
    sentences = library.ingestor.sentences
    assert sentences is not None
    made = sentences.computed  # the extractive answerer's sentence vectors, made at ingest
    pages[4] = "Chapter 4\n\nThis page was rewritten to describe hydraulic brakes."
    second = library.add([("manual.pdf", make_pdf(pages))]).results[0]
    assert second.status == "replaced"
    assert second.embedded == 1 and second.reused == second.chunks - 1
    assert sentences.computed - made == 1  # the new sentence; "Chapter 4" was kept
    assert embedder.embedded_count - before == 1 + 1
    docs = library.documents()
    assert [(d.name, d.id) for d in docs] == [("manual.pdf", second.doc_id)]
    assert library.page_image(old_id, 0) is None  # the old version's files are gone
    hit = library.search("hydraulic brakes", k=1).hits[0]
    assert (hit.chunk.doc_id, hit.chunk.page) == (second.doc_id, 4)
    assert not [
        h for h in library.search("topic number 4", k=10).hits if "number 4" in h.chunk.text
    ]
    assert_consistent(library)


def test_remove_takes_a_document_out_of_every_index(library: Library):
    report = library.add([("orchard.pdf", make_pdf(APPLES)), ("engine.pdf", make_pdf(ENGINES))])
    orchard = report.results[0].doc_id
    library.remove(orchard)
    assert [d.name for d in library.documents()] == ["engine.pdf"]
    assert all(h.doc_name == "engine.pdf" for h in library.search("apple harvest pear", k=10).hits)
    assert library.page_image(orchard, 0) is None
    assert not (library.ingestor.files_dir / f"{orchard}.pdf").exists()
    assert_consistent(library)


def test_a_bad_batch_fails_file_by_file_and_changes_nothing_else(library: Library, tmp_path):
    library.add([("engine.pdf", make_pdf(ENGINES))])
    generation = library.registry.generation()
    ids_before = chroma_ids(library)
    big = b"%PDF-1.4\n" + b"0" * (library.settings.max_upload_bytes + 1)
    report = library.add(
        [
            ("empty.pdf", b""),
            ("text.pdf", b"just text"),
            ("broken.pdf", corrupt(make_pdf(["x"]))),
            ("locked.pdf", make_pdf(["Locked."], user_password="pw")),
            ("huge.pdf", big),
            ("slides.pptx", b"PK\x03\x04"),
            tmp_path / "missing.pdf",
            ("orchard.pdf", make_pdf(APPLES)),
        ]
    )
    statuses = {r.name: (r.status, r.error) for r in report.results}
    assert statuses["orchard.pdf"][0] == "added"
    assert statuses["empty.pdf"] == ("failed", "empty.pdf: the file is empty (0 bytes)")
    assert statuses["text.pdf"] == (
        "failed",
        "text.pdf: is named .pdf but is not a PDF (no %PDF header)",
    )
    assert statuses["broken.pdf"][1].startswith("broken.pdf: is not a readable PDF")
    assert statuses["locked.pdf"][1].startswith("locked.pdf: is protected by a password")
    assert "over the upload limit" in statuses["huge.pdf"][1]
    assert statuses["slides.pptx"][1].startswith("slides.pptx: unsupported file type (.pptx)")
    assert statuses["missing.pdf"][1].startswith("missing.pdf: cannot be read")
    assert library.registry.generation() == generation + 1  # only the good file changed it
    assert ids_before < chroma_ids(library)
    failed = {d.name: d.error for d in library.documents() if d.status == "failed"}
    assert failed["locked.pdf"].startswith("is protected by a password")
    assert_consistent(library)


def test_filters_by_document_year_category_and_tag(library: Library):
    library.add(
        [("orchard_2020.pdf", make_pdf(APPLES))], DocumentMetadata(category="farm", tags=("fruit",))
    )
    library.add([("engine_2019.pdf", make_pdf(ENGINES))], DocumentMetadata(category="manual"))
    engine = next(d for d in library.documents() if d.name == "engine_2019.pdf")
    assert engine.metadata.year == 2019 and engine.metadata.category == "manual"

    def names(filters: Filters) -> set[str]:
        return {
            h.doc_name for h in library.search("oil apple pear engine", k=10, filters=filters).hits
        }

    assert names(Filters()) == {"orchard_2020.pdf", "engine_2019.pdf"}
    assert names(Filters(doc_ids=(engine.id,))) == {"engine_2019.pdf"}
    assert names(Filters(years=(2020,))) == {"orchard_2020.pdf"}
    assert names(Filters(categories=("MANUAL",))) == {"engine_2019.pdf"}
    assert names(Filters(tags=("fruit",))) == {"orchard_2020.pdf"}
    result = library.search("oil", k=10, filters=Filters(years=(1999,)))
    assert result.hits == () and "no ready document matches the filters" in result.trace.notes


def test_dense_leg_is_off_for_a_query_its_model_cannot_read(library: Library):
    library.add([("年报.pdf", make_pdf(CHINESE)), ("orchard.pdf", make_pdf(APPLES))])
    result = library.search("营业收入增长", k=3)
    dense = next(leg for leg in result.trace.legs if leg.leg == "dense")
    assert dense.status == "off" and dense.weight == 0.0
    assert "cannot read 100% of the query's tokens" in dense.note
    assert result.hits[0].doc_name == "年报.pdf" and result.hits[0].chunk.page == 0
    assert [lr.leg for lr in result.hits[0].legs] == ["bm25"]
    # Chinese chunks were kept out of the dense index, English ones went in.
    chinese = library.find("年报.pdf")
    assert not any(r.dense for r in library.registry.chunk_rows(chinese.id))
    assert_consistent(library)


def test_opening_with_another_embedding_model_is_refused_then_reembedded(
    settings, library: Library
):
    library.add([("orchard.pdf", make_pdf(APPLES))])
    other = HashingEmbedder(dim=64, name="other-model")
    with pytest.raises(
        ConfigurationError, match="built with the embedding model 'test-hashing-embedder'"
    ):
        Library.open(settings, embedder=other)
    switched = Library.open(settings, embedder=other, check_model=False)
    assert switched.reembed() == len(ready_dense_ids(switched))
    reopened = Library.open(settings, embedder=other)
    assert reopened.search("pear frost", k=1).hits[0].chunk.page == 2
    assert_consistent(reopened)


def test_markdown_and_text_documents(library: Library):
    library.add(
        [
            ("guide.md", b"# Setup Guide\n\nInstall the pump before the valve."),
            ("n.txt", b"Plain notes about valves."),
        ]
    )
    hit = library.search("install pump", k=1).hits[0]
    assert hit.doc_name == "guide.md" and hit.chunk.page_number == 1
    assert hit.chunk.context == "Setup Guide"


def test_reindex_keeps_the_document_and_its_vectors_consistent(library: Library, embedder):
    doc_id = library.add([("orchard.pdf", make_pdf(APPLES))]).results[0].doc_id
    before = embedder.embedded_count
    result = library.reindex(doc_id)
    assert result.status == "added" and result.embedded == 0
    assert embedder.embedded_count == before
    assert_consistent(library)


def test_search_ranks_pages_by_their_best_chunk(library: Library):
    library.add([("orchard.pdf", make_pdf(APPLES)), ("engine.pdf", make_pdf(ENGINES))])
    result = library.search("pear frost oil engine", k=6)
    pages = [(p.doc_name, p.page_number, p.rank) for p in result.pages]
    expected, seen = [], set()
    for hit in result.hits:
        key = (hit.doc_name, hit.chunk.page_number)
        if key not in seen:
            seen.add(key)
            expected.append((*key, len(expected) + 1))
    assert pages == expected and len(pages) >= 2
    assert result.pages[0].legs[0].leg == "text"


BAD_UTF16 = b"\xff\xfe" + b"\x00\xd8\x41\x00"  # a high surrogate with no low one after it


def document_states(library: Library) -> dict[str, tuple[str, bool, str | None]]:
    return {d.name: (d.status, d.chunks > 0, d.error) for d in library.documents()}


@pytest.mark.security
def test_a_file_that_cannot_be_decoded_fails_alone_and_the_batch_goes_on(library: Library):
    report = library.add(
        [
            ("valid.md", b"# Orchards\n\nApples grow in orchards."),
            ("bad-utf16.txt", BAD_UTF16),
            ("valid2.txt", b"Pears ripen in September."),
        ]
    )
    reason = "starts with a UTF-16 byte order mark but is not valid UTF-16 text (byte 2)"
    assert [(r.name, r.status, r.error) for r in report.results] == [
        ("valid.md", "added", None),
        ("bad-utf16.txt", "failed", f"bad-utf16.txt: {reason}"),
        ("valid2.txt", "added", None),
    ]
    assert document_states(library) == {
        "valid.md": ("ready", True, None),
        "bad-utf16.txt": ("failed", False, reason),
        "valid2.txt": ("ready", True, None),
    }
    assert library.search("pears september", k=1).hits[0].chunk.text == "Pears ripen in September."
    assert_consistent(library)


class FailingEmbedder(HashingEmbedder):
    """Fails on texts holding a marker word, the way a real model runs out of memory."""

    def count_tokens(self, texts):
        if any("tokenbomb" in t for t in texts):
            raise MemoryError()  # no message, like the real one
        return super().count_tokens(texts)

    def embed(self, texts):
        if any("vectorbomb" in t for t in texts):
            raise RuntimeError("CUDA out of memory")
        return super().embed(texts)


@pytest.mark.security
def test_an_unexpected_failure_fails_its_file_with_a_reason_and_nothing_else(settings):
    library = Library.open(settings, embedder=FailingEmbedder())
    report = library.add(
        [
            ("first.md", b"Apples grow in orchards."),
            ("tokens.md", b"A tokenbomb in the text."),
            ("vectors.md", b"A vectorbomb in the text."),
            ("last.md", b"Pears ripen in September."),
        ]
    )
    assert [(r.name, r.status, r.error) for r in report.results] == [
        ("first.md", "added", None),
        ("tokens.md", "failed", "tokens.md: indexing failed: it ran out of memory"),
        ("vectors.md", "failed", "vectors.md: embedding failed: CUDA out of memory"),
        ("last.md", "added", None),
    ]
    assert document_states(library) == {
        "first.md": ("ready", True, None),
        "tokens.md": ("failed", False, "indexing failed: it ran out of memory"),
        "vectors.md": ("failed", False, "embedding failed: CUDA out of memory"),
        "last.md": ("ready", True, None),
    }
    assert_consistent(library)


REPORT_MD = (
    b"# Annual Report\n\n## Cash Flows\n\n"
    b"(Millions) 2018 2017 2016\n"
    b"Purchases of property, plant and equipment (1,577) (1,373) (1,420)\n"
    b"Proceeds from sale of businesses 846 1,065 111\n"
)
OUTLOOK_MD = b"# Outlook\n\nThe company expects capital spending to rise next year."


def make_version_1(library: Library) -> set[str]:
    """Make ``library`` look written when table numbers were left out of the embedded text
    (dense text version 1, before the key was kept): old hashes and old vectors in the cache,
    the vector store and the index, no vector of the new text cached. The chunks whose
    embedded text differs between the versions."""
    import re

    from sqlalchemy import text as sql

    from rag_core.embed.embeddings import text_hash
    from rag_core.ingest.chunking import dense_text
    from rag_core.store.registry import DENSE_TEXT_KEY

    def version_1(context: str, text: str) -> str:  # what Folio embedded before
        number = re.compile(r"[(]?[\d,.]*\d[\d,.]*[)]?")
        lines = [
            " ".join(w for w in line.split() if not number.fullmatch(w))
            if len(number.findall(line)) >= 2
            else line
            for line in text.split("\n")
        ]
        body = "\n".join(line for line in lines if line.strip())
        return f"{context}\n{body}" if context else body

    embedder = library.embedder
    rows = [r for d in library.documents() for r in library.registry.chunk_rows(d.id)]
    old = {r.chunk.id: version_1(r.chunk.context, r.chunk.text) for r in rows}
    changed = {
        r.chunk.id for r in rows if old[r.chunk.id] != dense_text(r.chunk.context, r.chunk.text)
    }
    ids = sorted(old)
    library.ingestor.cache.put(
        embedder.name, [text_hash(old[i]) for i in ids], embedder.embed([old[i] for i in ids])
    )
    library.ingestor.chroma.upsert(ids, embedder.embed([old[i] for i in ids]))
    library.registry.set_chunk_vectors({i: (text_hash(old[i]), True) for i in ids})
    cache = library.ingestor.cache
    with library.registry.engine.begin() as conn:
        conn.execute(sql("DELETE FROM library_meta WHERE key = :k"), {"k": DENSE_TEXT_KEY})
        for r in rows:
            if r.chunk.id in changed:  # never embedded: no vector of the new text cached
                now = text_hash(dense_text(r.chunk.context, r.chunk.text))
                conn.execute(
                    sql("DELETE FROM embedding_cache WHERE text_hash = :h"), {"h": cache._key(now)}
                )
    library.registry.bump_generation()
    library.search("capital spending", k=1)  # the index over the old vectors
    return changed


def test_vectors_of_an_older_dense_text_are_embedded_again_once(settings, embedder):
    """A library written when table numbers were left out of the embedded text (version 1,
    no meta key) gets vectors of the current text for the chunks whose text changed, the
    index rewritten over them, once."""
    from rag_core.embed.embeddings import text_hash
    from rag_core.ingest.chunking import DENSE_TEXT_VERSION, dense_text
    from rag_core.store.registry import DENSE_TEXT_KEY

    library = Library.open(settings, embedder=embedder)
    library.add([("report.md", REPORT_MD), ("outlook.md", OUTLOOK_MD)])
    changed = make_version_1(library)
    assert changed and len(changed) < sum(d.chunks for d in library.documents())  # the table's

    before = embedder.embedded_count
    reopened = Library.open(settings, embedder=embedder)
    assert embedder.embedded_count - before == len(changed)  # only the changed chunks
    assert reopened.registry.meta(DENSE_TEXT_KEY) == DENSE_TEXT_VERSION
    snapshot = reopened.retriever.snapshot()
    for r in (r for d in reopened.documents() for r in reopened.registry.chunk_rows(d.id)):
        now = dense_text(r.chunk.context, r.chunk.text)
        assert r.text_hash == text_hash(now)
        vector = snapshot.vectors_of([snapshot.row_of[r.chunk.id]])[0]
        assert vector == pytest.approx(embedder.embed([now])[0], abs=1e-3)  # float16 cache
    hit = reopened.search("purchases of property 1,577", k=1, legs=("dense",)).hits[0]
    assert "1,577" in hit.chunk.text
    assert_consistent(reopened)

    again = embedder.embedded_count
    Library.open(settings, embedder=embedder)
    assert embedder.embedded_count == again  # once


def test_a_new_library_starts_at_the_current_dense_text(settings, embedder):
    from rag_core.ingest.chunking import DENSE_TEXT_VERSION
    from rag_core.store.registry import DENSE_TEXT_KEY

    library = Library.open(settings, embedder=embedder)
    assert library.registry.meta(DENSE_TEXT_KEY) == DENSE_TEXT_VERSION
