"""bench/naive.py and bench/quality.py: the naive baseline's windows and pages, the quality
table, and the content-hash renaming of a pdfqa set."""

import hashlib
import json
from collections.abc import Sequence

import numpy as np

from bench import naive, quality
from rag_core.embed.embeddings import Embedder
from rag_core.eval.sets import load_pdfqa
from tests.pdfs import make_pdf


def test_word_windows_cut_every_n_words_and_keep_the_rest():
    assert naive.word_windows("a b  c\nd e", size=2) == ["a b", "c d", "e"]
    assert naive.word_windows("   ", size=2) == []


def test_page_windows_cross_page_breaks_and_map_to_the_page_with_most_words():
    windows = naive.page_windows("doc", ["a b", "c d e", "", "f g h i"], size=3)
    assert windows == [
        naive.Window("doc", 0, "a b c"),  # two words of page 0, one of page 1
        naive.Window("doc", 1, "d e f"),
        naive.Window("doc", 3, "g h i"),
    ]


def test_page_windows_break_a_tie_towards_the_first_page():
    assert naive.page_windows("d", ["a", "b"], size=2) == [naive.Window("d", 0, "a b")]


def test_pdf_pages_read_each_pages_text(tmp_path):
    path = tmp_path / "two.pdf"
    path.write_bytes(make_pdf(["Revenue grew strongly.", "Costs fell sharply."]))
    pages = naive.pdf_pages(path)
    assert len(pages) == 2
    assert "Revenue grew" in pages[0] and "Costs fell" in pages[1]


class _SameVector(Embedder):
    """Every text the same vector: the dense leg ties everywhere, BM25 decides."""

    name = "same"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.ones((len(texts), 2), dtype=np.float32) / np.sqrt(2)


def test_naive_index_fuses_bm25_with_the_dense_leg_by_rrf():
    windows = [naive.Window("d", i, t) for i, t in enumerate(["cats purr", "dogs bark", "the"])]
    vectors = _SameVector().embed([w.text for w in windows])
    index = naive.NaiveIndex(range(3), windows, vectors)
    # bm25 ranks only row 1 ("dogs"), dense ties (rows by index): RRF puts row 1 first.
    assert index.search("the dogs", vectors[0], 3) == [1, 0, 2]
    own = naive.NaiveIndex([2], windows, vectors)
    assert own.search("the dogs", vectors[0], 3) == [2]  # rows of the whole set
    assert naive.NaiveIndex([], windows, vectors).search("dogs", vectors[0], 3) == []


def test_page_metrics_are_folios_at_the_same_cutoffs():
    metrics = naive.page_metrics(["a#1", "a#2", "b#0"], {"a#2"})
    assert metrics["hit@1"] == 0.0 and metrics["hit@3"] == 1.0 and metrics["mrr"] == 0.5


def test_quality_table_prints_folio_minus_naive():
    rows = [
        quality.QualityRow("uda_ex", "own document", "hit@5", 0.8, 0.851, 94),
        quality.QualityRow("xquad_en", "all", "ndcg@10", 0.99, 0.98, 1190),
    ]
    assert quality.quality_table(rows).splitlines() == [
        "| set | setting | metric | naive | Folio | difference | queries |",
        "|---|---|---|---|---|---|---|",
        "| uda_ex | own document | hit@5 | 0.800 | 0.851 | +0.051 | 94 |",
        "| xquad_en | all | ndcg@10 | 0.990 | 0.980 | -0.010 | 1190 |",
    ]


def test_renamed_questions_rewrite_doc_only():
    lines = [
        json.dumps({"id": "1", "doc": "ACME_2020", "pages": [3], "question": "Q?"}),
        "",
        json.dumps({"id": "2", "doc": "missing", "pages": []}),
    ]
    out = [json.loads(line) for line in quality.renamed_questions(lines, {"ACME_2020": "ab12"})]
    assert out == [
        {"id": "1", "doc": "ab12", "pages": [3], "question": "Q?"},
        {"id": "2", "doc": "missing", "pages": []},
    ]


def test_hashed_copy_names_every_pdf_by_the_sha256_of_its_bytes(tmp_path):
    source = tmp_path / "set"
    (source / "pdfs").mkdir(parents=True)
    first, second = make_pdf(["Acme annual report"]), make_pdf(["Globex quarterly report"])
    (source / "pdfs" / "ACME_2020.pdf").write_bytes(first)
    (source / "pdfs" / "GLOBEX_2021.pdf").write_bytes(second)
    questions = [
        {"id": "q1", "question": "Acme revenue?", "doc": "ACME_2020", "pages": [0]},
        {"id": "q2", "question": "Globex costs?", "doc": "GLOBEX_2021", "pages": [0]},
    ]
    (source / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions))
    target = quality.hashed_copy(source, tmp_path / "hashed")
    assert target == tmp_path / "hashed" / "set-hashed"
    sha1, sha2 = hashlib.sha256(first).hexdigest(), hashlib.sha256(second).hexdigest()
    assert sorted(p.name for p in (target / "pdfs").iterdir()) == sorted(
        [f"{sha1}.pdf", f"{sha2}.pdf"]
    )
    assert (target / "pdfs" / f"{sha1}.pdf").read_bytes() == first
    loaded = load_pdfqa(target)
    assert [(q.id, q.doc) for q in loaded.questions] == [("q1", sha1), ("q2", sha2)]
    # Again after one PDF left the source: the copy follows, the stale file goes.
    (source / "pdfs" / "GLOBEX_2021.pdf").unlink()
    quality.hashed_copy(source, tmp_path / "hashed")
    assert [p.name for p in (target / "pdfs").iterdir()] == [f"{sha1}.pdf"]
    assert [q.doc for q in load_pdfqa(target).questions] == [sha1]
