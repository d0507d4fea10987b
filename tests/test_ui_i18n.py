"""Every string of the interface renders as Markdown the way it reads: no stray ``**``.

CommonMark closes ``**`` only on a right-flanking delimiter run; after full-width punctuation
(``：``, ``。``) and before a letter the run is not right-flanking, so ``**页面图像检索：**文字``
shows its asterisks. The check renders each string with a CommonMark parser (markdown-it,
which Gradio installs) after filling its ``{fields}`` with a word, and looks for emphasis
delimiters left over as text.
"""

from __future__ import annotations

import string

import pytest
from markdown_it import MarkdownIt

from ui.i18n import EN, ZH

MARKDOWN = MarkdownIt("commonmark")
TABLES = {"en": EN, "zh": ZH}


def filled(template: str) -> str:
    """``template`` with every field replaced by a word, as a message usually has there."""
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    return template.format(**dict.fromkeys(fields, "word"))


def leftover_delimiters(markdown: str) -> list[str]:
    """The pieces of rendered text that still hold ``*`` or ``__`` (code spans aside)."""
    left = []
    for block in MARKDOWN.parse(markdown):
        for token in block.children or ():
            if token.type == "text" and ("*" in token.content or "__" in token.content):
                left.append(token.content)
    return left


def test_the_check_finds_asterisks_that_do_not_close():
    assert leftover_delimiters("**页面图像检索：**文字。") == ["**页面图像检索：**文字。"]
    assert leftover_delimiters("**页面图像检索**：文字。") == []
    assert leftover_delimiters("only *one star") == ["only *one star"]
    assert leftover_delimiters("__a__b and `**code**`") == ["__a__b and "]
    assert leftover_delimiters("ANTHROPIC_API_KEY, *Run*, **{set}**：") == []


@pytest.mark.parametrize("lang", sorted(TABLES))
def test_every_string_renders_its_emphasis(lang: str):
    broken = {key: text for key, text in TABLES[lang].items() if leftover_delimiters(filled(text))}
    assert broken == {}
