import numpy as np
from rank_bm25 import BM25Okapi

from rag_core.index.bm25 import BM25Index, top_k

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "cats and dogs are friends",
    "a bird sang in the tree",
]


def tokens(text: str) -> list[str]:
    return text.split()


def test_search_returns_exact_rows_best_first():
    index = BM25Index().build([tokens(t) for t in CORPUS])
    assert [row for row, _ in index.search(["bird"], 10)] == [3]
    assert [row for row, _ in index.search(["sat", "mat"], 10)] == [0, 1]
    assert index.search(["unknown"], 10) == []


def test_search_within_row_ranges_only():
    index = BM25Index().build([tokens(t) for t in CORPUS])
    assert [row for row, _ in index.search(["sat"], 10, ranges=[(1, 3)])] == [1]
    assert index.search(["sat"], 10, ranges=[]) == []


def test_atire_robertson_matches_rank_bm25_okapi_epsilon_0():
    rng = np.random.default_rng(7)
    vocab = [f"t{i}" for i in range(60)]
    corpus = [list(rng.choice(vocab, size=int(rng.integers(3, 40)))) for _ in range(300)]
    oracle = BM25Okapi(corpus, k1=1.5, b=0.75, epsilon=0)
    index = BM25Index(
        method="atire", k1=1.5, b=0.75, idf_method="robertson", dtype="float64"
    ).build(corpus)
    worst = 0.0
    for _ in range(50):
        query = list(rng.choice(vocab, size=3, replace=False))
        expected = oracle.get_scores(query)
        got = index.scores(query)
        worst = max(worst, float(np.max(np.abs(expected - got))))
    assert worst < 1e-12


def test_save_and_memory_mapped_load(tmp_path):
    index = BM25Index(method="atire", idf_method="robertson").build([tokens(t) for t in CORPUS])
    index.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    assert loaded.search(["dog", "log"], 3) == index.search(["dog", "log"], 3)
    assert loaded.method == "atire" and loaded.idf_method == "robertson"


def test_empty_index_and_top_k():
    empty = BM25Index().build([])
    assert empty.search(["x"], 5) == []
    assert top_k(np.array([0.0, 2.0, 1.0, 2.0]), 3) == [(1, 2.0), (3, 2.0), (2, 1.0)]
    assert top_k(np.array([0.5, 0.2]), 5, offset=10) == [(10, 0.5), (11, 0.2)]


def test_rows_without_any_term_match_nothing(tmp_path):
    index = BM25Index().build([[], [], []])  # e.g. routing names that are all numeric ids
    assert index.size == 3 and index.scores(["x"]).tolist() == [0.0, 0.0, 0.0]
    index.save(tmp_path / "empty")
    loaded = BM25Index.load(tmp_path / "empty")
    assert loaded.size == 3 and loaded.search(["x"], 2) == []
    assert BM25Index.load(_saved(tmp_path / "none", [])).size == 0


def _saved(folder, rows):
    BM25Index().build(rows).save(folder)
    return folder


def test_top_k_keeps_the_best_positive_rows_and_the_first_of_ties() -> None:
    from rag_core.index.bm25 import top_k

    scores = np.array([0.0, 2.0, 1.0, 1.0, 3.0, 1.0, -1.0], dtype=np.float32)
    assert top_k(scores, 3) == [(4, 3.0), (1, 2.0), (2, 1.0)]
    assert top_k(scores, 4, offset=10) == [(14, 3.0), (11, 2.0), (12, 1.0), (13, 1.0)]
    assert top_k(scores, 10) == [(4, 3.0), (1, 2.0), (2, 1.0), (3, 1.0), (5, 1.0)]
    assert top_k(np.ones(5, dtype=np.float32), 2) == [(0, 1.0), (1, 1.0)]
    assert top_k(np.zeros(4, dtype=np.float32), 2) == [] and top_k(scores, 0) == []
