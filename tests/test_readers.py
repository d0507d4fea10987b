import io
import re

import pytest

from rag_core.errors import DocumentError
from rag_core.ingest.readers import MB, ReadLimits, clean_name, derive_metadata, read_document

from .hostile_files import (
    TEXT_OPERATOR,
    content_pdf,
    docx_with_xml,
    form_drawn_pdf,
    page_of_size,
    repeated_content_pdf,
)
from .pdfs import IMAGE_ONLY, corrupt, make_pdf

LIMITS = ReadLimits(
    page_content=4 * MB, document_content=512 * MB, docx_xml=50 * MB, docx_other=200 * MB
)
BAD_UTF16 = b"\xff\xfe" + b"\x00\xd8\x41\x00"  # a high surrogate with no low one after it


def test_pdf_pages_text_and_image_only_pages_are_kept():
    data = make_pdf(
        ["First page about apples.", IMAGE_ONLY, "第三页讨论营业收入。"], title="Fruit Report"
    )
    doc = read_document("fruit_2021.pdf", data, max_pages=100)
    assert doc.kind == "pdf"
    assert [p.index for p in doc.pages] == [0, 1, 2]
    assert doc.pages[0].text == "First page about apples."
    assert doc.pages[1].text == ""
    assert doc.pages[2].text == "第三页讨论营业收入。"
    assert doc.pages_without_text == 1
    assert doc.metadata.title == "Fruit Report" and doc.metadata.year == 2021


def test_pdf_encrypted_with_empty_password_opens():
    data = make_pdf(["Secret but readable."], user_password="")
    assert read_document("open.pdf", data, 10).pages[0].text == "Secret but readable."


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.pdf", b"", "the file is empty (0 bytes)"),
        ("notes.pdf", b"hello, I am plain text", "is named .pdf but is not a PDF (no %PDF header)"),
        (
            "image.png",
            b"\x89PNG\r\n\x1a\n",
            "unsupported file type (.png); Folio accepts PDF (.pdf), Markdown (.md), text (.txt) and Word (.docx)",
        ),
        (
            "noext",
            b"abc",
            "unsupported file type (no extension); Folio accepts PDF (.pdf), Markdown (.md), text (.txt) and Word (.docx)",
        ),
        ("bin.txt", b"\x00\x01\x02binary", "is named .txt but holds binary data, not text"),
        ("fake.docx", b"PK\x03\x04 not really a zip", "is named .docx but is not a Word document"),
    ],
)
def test_bad_inputs_name_the_file_and_the_reason(name, data, reason):
    with pytest.raises(DocumentError) as info:
        read_document(name, data, 10)
    assert str(info.value) == f"{name}: {reason}"


def test_pdf_with_a_real_password_is_refused():
    data = make_pdf(["Locked."], user_password="s3cret")
    with pytest.raises(DocumentError, match=r"locked\.pdf: is protected by a password"):
        read_document("locked.pdf", data, 10)


def test_corrupt_pdf_is_refused():
    with pytest.raises(DocumentError, match=r"broken\.pdf: is not a readable PDF"):
        read_document("broken.pdf", corrupt(make_pdf(["x"])), 10)


def test_page_limit():
    with pytest.raises(DocumentError, match="has 3 pages, over the limit of 2"):
        read_document("long.pdf", make_pdf(["a", "b", "c"]), max_pages=2)


def test_markdown_text_and_encodings():
    md = read_document("guide.md", b"# Setup Guide\n\nInstall it.", 10)
    assert md.kind == "markdown" and md.metadata.title == "Setup Guide"
    assert md.pages[0].text == "# Setup Guide\n\nInstall it."
    gb = read_document("中文.txt", "营业收入增长。".encode("gb18030"), 10)
    assert gb.pages[0].text == "营业收入增长。"
    utf16 = read_document("u.txt", "hello".encode("utf-16"), 10)
    assert utf16.pages[0].text == "hello"


def test_docx_paragraphs_and_tables():
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.add_paragraph("Policy on travel.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Hotel"
    table.rows[0].cells[1].text = "200 USD"
    buffer = io.BytesIO()
    document.save(buffer)
    doc = read_document("travel.docx", buffer.getvalue(), 10)
    assert doc.kind == "docx"
    assert doc.pages[0].text == "Policy on travel.\nHotel | 200 USD"


def test_metadata_from_file_name():
    meta = derive_metadata("3M_2018_10K.pdf")
    assert meta.title == "3M 2018 10K" and meta.year == 2018
    assert derive_metadata("notes.md").year is None


def test_a_title_that_says_nothing_gives_way_to_the_file_name():
    name = "BESTBUY_2017_10K.pdf"
    for junk in ("0000764478-17-000008", "Document", "Untitled", "  ", "Microsoft Word - "):
        assert derive_metadata(name, junk).title == "BESTBUY 2017 10K", junk
    assert derive_metadata(name, "Microsoft Word - Annual Report.docx").title == "Annual Report"
    assert derive_metadata(name, "Form 10-K for Best Buy").title == "Form 10-K for Best Buy"
    assert derive_metadata("年报.pdf", "2023年年度报告").title == "2023年年度报告"


@pytest.mark.security
def test_a_long_file_name_is_shortened_before_its_extension():
    assert clean_name("a" * 1000 + ".pdf") == "a" * 251 + ".pdf"
    assert clean_name("../" + "年" * 300 + ".docx") == "年" * 250 + ".docx"
    assert clean_name("b" * 251 + ".pdf") == "b" * 251 + ".pdf"  # 255: kept whole
    assert clean_name("b" * 252 + ".pdf") == "b" * 251 + ".pdf"
    assert clean_name("x" * 1000) == "x" * 255
    assert clean_name("n." + "e" * 300) == ("n." + "e" * 300)[:255]  # no extension to keep
    assert read_document(clean_name("c" * 1000 + ".md"), b"# Kept", 10).kind == "markdown"


@pytest.mark.security
def test_text_with_a_utf16_mark_that_is_not_utf16_is_a_document_error():
    with pytest.raises(DocumentError) as info:
        read_document("bad-utf16.txt", BAD_UTF16, 10)
    assert str(info.value) == (
        "bad-utf16.txt: starts with a UTF-16 byte order mark but is not valid UTF-16 text (byte 2)"
    )


@pytest.mark.security
def test_a_page_larger_than_the_pdf_format_allows_is_refused_before_it_is_loaded():
    with pytest.raises(DocumentError) as info:
        read_document("poster.pdf", page_of_size(1000, 1000), 10, LIMITS)
    assert str(info.value) == (
        "poster.pdf: page 1 is too large (1,000 x 1,000 inches; PDF pages are at most 200 "
        "inches a side)"
    )
    banner = read_document("banner.pdf", page_of_size(200, 100, "Big banner"), 10, LIMITS)
    assert banner.page_sizes == ((14400.0, 7200.0),)
    assert banner.pages[0].text == "Big banner"


@pytest.mark.security
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(repeated_content_pdf(5), id="one 5 MB content stream"),
        pytest.param(form_drawn_pdf(1000, 100), id="a 100 KB form drawn 1000 times"),
        pytest.param(form_drawn_pdf(1000, 100, name=b"/F#6d"), id="the form's name escaped"),
    ],
)
def test_a_page_with_too_much_content_is_refused_before_pdfium_parses_it(data):
    with pytest.raises(DocumentError) as info:
        read_document("drawing.pdf", data, 10, LIMITS)
    assert str(info.value) == (
        "drawing.pdf: page 1 draws more than 4 MB of content, the limit for one page "
        "(FOLIO_MAX_PAGE_CONTENT_MB)"
    )


@pytest.mark.security
def test_a_document_with_too_much_content_in_all_is_refused():
    one_mb = TEXT_OPERATOR * (MB // len(TEXT_OPERATOR) + 1)  # just over 1 MB a page
    limits = ReadLimits(page_content=4 * MB, document_content=8 * MB, docx_xml=MB, docx_other=MB)
    with pytest.raises(DocumentError) as info:
        read_document("atlas.pdf", content_pdf(one_mb, pages=10), 10, limits)
    assert str(info.value) == (
        "atlas.pdf: its first 8 pages draw more than 8 MB of content, the limit for one "
        "document (FOLIO_MAX_DOCUMENT_CONTENT_MB)"
    )
    assert len(read_document("atlas.pdf", content_pdf(one_mb, pages=7), 10, limits).pages) == 7


@pytest.mark.security
def test_pages_within_the_content_limits_are_read():
    doc = read_document("forms.pdf", form_drawn_pdf(10, 100), 10, LIMITS)  # 1 MB drawn
    assert doc.pages[0].text.startswith("Hello world")
    real = read_document("fruit.pdf", make_pdf(["Apples.", IMAGE_ONLY, "Pears."]), 10, LIMITS)
    assert [p.text for p in real.pages] == ["Apples.", "", "Pears."]


@pytest.mark.security
def test_a_word_file_that_unpacks_to_too_much_xml_is_refused_before_it_is_parsed():
    with pytest.raises(DocumentError) as info:
        read_document("memo.docx", docx_with_xml(60), 10, LIMITS)
    assert re.fullmatch(
        r"memo\.docx: unpacks to 6[01] MB of XML \(\d{3,} times its size\), over the limit of "
        r"50 MB \(FOLIO_MAX_DOCX_XML_MB\)",
        str(info.value),
    ), str(info.value)
    assert read_document("memo.docx", docx_with_xml(1), 10, LIMITS).pages[0].text == "A short memo."
