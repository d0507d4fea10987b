from rag_core.index.lexical import LexicalTokenizer


def test_english_is_lowercased_stemmed_and_stopword_free():
    tok = LexicalTokenizer()
    assert tok.tokenize("The Companies were reporting Revenues") == ["compani", "report", "revenu"]


def test_numbers_keep_their_value_and_letter_digit_runs_split():
    tok = LexicalTokenizer(stem=False)
    assert tok.tokenize("Capex was $1,577.00 in FY2018 (10-K)") == [
        "capex",
        "1577.00",
        "fy2018",
        "fy",
        "2018",
        "10",
        "k",
    ]


def test_chinese_is_segmented_into_words_without_stopwords():
    tok = LexicalTokenizer()
    tokens = tok.tokenize("公司的营业收入增长了")
    assert "营业" in tokens and "收入" in tokens and "公司" in tokens
    assert "的" not in tokens and "了" not in tokens


def test_mixed_text_and_full_width_forms():
    tok = LexicalTokenizer(stem=False)
    tokens = tok.tokenize("３Ｍ公司2018年revenue")
    assert "3m" in tokens and "revenue" in tokens and "公司" in tokens and "2018" in tokens


def test_possessives_keep_the_name():
    tok = LexicalTokenizer()
    assert tok.tokenize("MGM's margin") == ["mgm", "margin"]
    assert tok.tokenize("MGM’s margin") == ["mgm", "margin"]
