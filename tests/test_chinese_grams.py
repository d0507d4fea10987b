"""Chinese read as characters and character pairs (``han_grams``) beside jieba's words."""

from __future__ import annotations

import pytest

from rag_core.index.bm25 import BM25Index
from rag_core.index.lexical import CHINESE_ANALYSES, LexicalTokenizer, han_grams, han_runs


def test_a_run_gives_its_characters_then_its_overlapping_pairs() -> None:
    assert han_grams("北京大学") == ["北", "京", "大", "学", "北京", "京大", "大学"]
    assert han_grams("中") == ["中"]
    assert han_grams("") == []


def test_simplified_and_traditional_are_read_alike() -> None:
    tok = LexicalTokenizer()
    assert tok.grams("软件开发") == ["软", "件", "开", "发", "软件", "件开", "开发"]
    # Traditional characters are written Simplified, so either script finds the other
    assert tok.grams("軟件開發") == tok.grams("软件开发")
    # a word of Taiwanese usage stays what it is (軟體, not 软件): its characters still meet
    assert tok.grams("軟體開發") == ["软", "体", "开", "发", "软体", "体开", "开发"]


def test_punctuation_and_spaces_end_a_run() -> None:
    tok = LexicalTokenizer()
    assert tok.grams("你好，世界。") == ["你", "好", "你好", "世", "界", "世界"]
    assert tok.grams("你好 世界") == ["你", "好", "你好", "世", "界", "世界"]
    assert han_runs("《戰國無雙3》是由誰開發的？") == ["戰國無雙", "是由誰開發的"]


def test_english_in_chinese_text_is_read_as_today() -> None:
    tok = LexicalTokenizer()
    assert tok.grams("Folio支持PDF文件，revenues in FY2018") == [
        *("支", "持", "支持", "文", "件", "文件"),
        *("folio", "pdf", "revenu", "fy2018", "fy", "2018"),
    ]
    # Full-width forms are folded first, as for jieba's words.
    assert tok.grams("ＰＤＦ文件") == ["文", "件", "文件", "pdf"]


@pytest.mark.parametrize("chinese", CHINESE_ANALYSES)
def test_english_text_gets_the_same_tokens_whatever_the_analysis(chinese) -> None:
    tok = LexicalTokenizer()
    text = "The Companies were reporting Revenues of $1,577 in FY2018"
    words = tok.tokenize(text)
    assert tok.fields(text, words, chinese) == (words, [])


def test_each_analysis_gives_its_fields() -> None:
    tok = LexicalTokenizer()
    text = "北京大学 in 2018"
    words = tok.tokenize(text)
    assert words == ["北京", "大学", "北京大学", "2018"]
    grams = ["北", "京", "大", "学", "北京", "京大", "大学"]
    assert tok.fields(text, words, "jieba") == (words, [])
    assert tok.fields(text, words, "grams") == ([*grams, "2018"], [])
    assert tok.fields(text, words, "both") == ([*words, *grams], [])
    assert tok.fields(text, words, "fields") == (words, grams)


# Two paragraphs of XQuAD's Chinese "Southern_California" article (CC BY-SA 4.0) in
# Traditional characters (OpenCC s2t), and a third to give the words their weight.
LOS_ANGELES_TEAMS = (
    "南加州的職業體育隊伍包括來自 NFL (洛杉磯公羊隊、聖迭戈閃電隊)、NBA (洛杉磯湖人隊、"
    "洛杉磯快船隊)、MLB (洛杉磯道奇隊、洛杉磯阿納海姆天使隊、聖迭戈教士隊)、NHL (洛杉磯國王隊、"
    "阿納海姆鴨子隊隊) 和MLS (洛杉磯銀河隊) 的隊伍。"
)
LOS_ANGELES_SOCCER = (
    "從2005年到 2014 年，洛杉磯有兩支美國足球大聯盟球隊——洛杉磯銀河和美國芝華士隊——它們都在 "
    "StubHub Center 比賽，是同城對手。然而，芝華士在 2014 MLS賽季後停賽，預計第二支MLS球隊將於 "
    "2018 年迴歸。"
)
PANTHERS = "黑豹隊的防守只丟了 308分，在聯賽中排名第六，同時也以 24 次攔截領先國家橄欖球聯盟。"
QUESTION = (
    "洛杉磯曾經有多少支球隊？"  # jieba on the Traditional as written: 洛杉磯 曾 經有 多少 支球隊
)


def _search(library, query: str) -> list[str]:
    return [h.doc_name for h in library.search(query, k=3, legs=("bm25",)).hits]


def test_characters_pairs_and_words_find_the_traditional_paragraph(settings, embedder) -> None:
    from rag_core.library import Library
    from rag_core.types import DocumentMetadata, Upload

    uploads = [
        Upload(name, text.encode(), DocumentMetadata(title="南加州"))
        for name, text in (
            ("teams.txt", LOS_ANGELES_TEAMS),
            ("soccer.txt", LOS_ANGELES_SOCCER),
            ("panthers.txt", PANTHERS),
        )
    ]
    jieba = Library.open(settings.model_copy(update={"chinese_bm25": "jieba"}), embedder=embedder)
    jieba.add(uploads)
    # jieba reads the Traditional question and paragraphs as Simplified (its dictionary's):
    # 球队 is one of its words again, so it finds the paragraph too
    assert _search(jieba, QUESTION)[0] == "soccer.txt"
    # The same library read as characters and pairs: its snapshot is rebuilt, not misread.
    for chinese in ("grams", "both", "fields"):
        library = Library.open(
            settings.model_copy(update={"chinese_bm25": chinese}), embedder=embedder
        )
        assert library.retriever.snapshot().chinese == chinese
        assert _search(library, QUESTION)[0] == "soccer.txt", chinese
        # A Simplified question finds the Traditional paragraph through the shared characters.
        assert _search(library, "黑豹队的防守丢了多少分？")[0] == "panthers.txt", chinese


def test_a_snapshot_reading_chinese_another_way_is_rebuilt(tmp_path) -> None:
    import numpy as np

    from rag_core.index.snapshot import build_snapshot, current_generation, load_snapshot

    tok = LexicalTokenizer()
    text = "洛杉磯曾經有兩支球隊"
    words = tok.tokenize(text)
    rows = [("c0", "doc", " ".join(words), False, "h0")]
    fields = tok.fields(text, words, "fields")
    build_snapshot(
        tmp_path, 3, "m", 1, rows, {}, BM25Index(), (BM25Index(), BM25Index()), {},
        None, (BM25Index(), [fields[1]]), "fields",
    )  # fmt: skip
    assert current_generation(tmp_path, "fields") == 3
    assert current_generation(tmp_path, "jieba") is None  # read another way: rebuilt
    snapshot = load_snapshot(tmp_path)
    assert snapshot is not None and snapshot.chinese == "fields" and snapshot.grams is not None
    # a pair jieba's words do not hold (both read the Traditional text as Simplified)
    assert words == ["洛杉矶", "曾经", "有", "两支", "球队"]
    assert snapshot.grams.scores(["经有"])[0] > 0
    assert np.all(snapshot.bm25.scores(["经有"]) == 0)
