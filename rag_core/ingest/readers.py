"""Read an uploaded file into pages of text, checking it first.

The type is decided by content, not by name: a PDF must start like one, a DOCX must be a
zip with a Word body, Markdown and text must decode as text. pypdf checks the PDF
(encryption, structure, metadata); pypdfium2 extracts the text, about 20x faster than
pypdf on real reports, and renders the pages (see ``rendering``).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rag_core.errors import DocumentError
from rag_core.ingest.pdf_cost import OverBudget, page_content_cost
from rag_core.ingest.pdfium_lock import PDFIUM
from rag_core.text import YEAR, normalize_page_text
from rag_core.types import DocumentMetadata, PageText

KINDS = {".pdf": "pdf", ".md": "markdown", ".markdown": "markdown", ".txt": "text", ".docx": "docx"}
ACCEPTED = "PDF (.pdf), Markdown (.md), text (.txt) and Word (.docx)"
MAX_NAME_CHARS = 255
MAX_PAGE_SIDE_POINTS = 14_400  # 200 inches: the PDF format's own limit (ISO 32000, annex C)
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """What reading one file may cost; the settings' ``FOLIO_MAX_*`` values (README)."""

    page_content: int  # decoded content bytes pdfium parses for one PDF page
    document_content: int  # ... for all of a PDF's pages
    docx_xml: int  # unpacked XML of a Word file
    docx_other: int  # its other unpacked parts (pictures): the upload limit


@dataclass(frozen=True, slots=True)
class ExtractedDocument:
    kind: str
    pages: tuple[PageText, ...]
    metadata: DocumentMetadata
    page_sizes: tuple[tuple[float, float], ...] = ()  # PDF pages (width, height) in points

    @property
    def pages_without_text(self) -> int:
        return sum(1 for p in self.pages if not p.has_text)


def clean_name(name: str) -> str:
    """The file name of an upload without folders or control characters.

    Browsers and HTTP clients send names such as ``../../etc/passwd.pdf`` or
    ``C:\\Users\\me\\report.pdf``: only the last part is kept, control characters (NUL
    included) are dropped. A name with nothing left is a ``DocumentError``. A name over 255
    characters is shortened before its extension, which decides how the file is read.
    """
    raw = str(name)
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    if cleaned in ("", ".", ".."):
        raise DocumentError(repr(raw)[1:-1] or "(no name)", "has no usable file name")
    return _shorten(cleaned, MAX_NAME_CHARS)


def _shorten(name: str, limit: int) -> str:
    if len(name) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if stem and len(extension) <= 16:
        return stem[: limit - len(extension) - 1] + dot + extension
    return name[:limit]


def detect_kind(name: str, data: bytes) -> str:
    """The document kind from the bytes, checked against the file name's extension."""
    suffix = Path(name).suffix.lower()
    if not data:
        raise DocumentError(name, "the file is empty (0 bytes)")
    if suffix not in KINDS:
        shown = suffix or "no extension"
        raise DocumentError(name, f"unsupported file type ({shown}); Folio accepts {ACCEPTED}")
    kind = KINDS[suffix]
    head = data[:1024]
    if kind == "pdf":
        if b"%PDF-" not in head:
            raise DocumentError(name, "is named .pdf but is not a PDF (no %PDF header)")
    elif kind == "docx":
        if not data.startswith(b"PK") or not _is_docx(data):
            raise DocumentError(name, "is named .docx but is not a Word document")
    elif b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DocumentError(name, f"is named {suffix} but holds binary data, not text")
    return kind


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def read_document(
    name: str, data: bytes, max_pages: int, limits: ReadLimits | None = None
) -> ExtractedDocument:
    """The file's pages of text. ``limits`` (the ingest passes the settings') refuses files
    that would cost too much to read; without them only the page count is limited."""
    kind = detect_kind(name, data)
    if kind == "pdf":
        return _read_pdf(name, data, max_pages, limits)
    if kind == "docx":
        if limits is not None:
            _check_docx_size(name, data, limits)
        return _read_docx(name, data)
    text = _decode_text(name, data)
    title = _markdown_title(text) if kind == "markdown" else ""
    return ExtractedDocument(
        kind, (PageText(0, normalize_page_text(text)),), derive_metadata(name, title)
    )


def _decode_text(name: str, data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DocumentError(
                name,
                "starts with a UTF-16 byte order mark but is not valid UTF-16 text "
                f"(byte {exc.start})",
            ) from exc
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DocumentError(name, "is not valid UTF-8 or GB18030 text")


def _markdown_title(text: str) -> str:
    match = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


def _check_docx_size(name: str, data: bytes, limits: ReadLimits) -> None:
    """A Word file is a zip: refuse one that unpacks to more than the limits, from the sizes
    its directory declares (zipfile never unpacks a member past its declared size)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
    xml = sum(m.file_size for m in members if m.filename.lower().endswith((".xml", ".rels")))
    other = sum(m.file_size for m in members) - xml
    if xml > limits.docx_xml:
        raise DocumentError(
            name,
            f"unpacks to {xml / MB:,.0f} MB of XML ({xml / max(1, len(data)):,.0f} times its "
            f"size), over the limit of {limits.docx_xml / MB:,.0f} MB (FOLIO_MAX_DOCX_XML_MB)",
        )
    if other > limits.docx_other:
        raise DocumentError(
            name,
            f"unpacks to {other / MB:,.0f} MB of pictures and other parts, over the upload "
            f"limit of {limits.docx_other / MB:,.0f} MB (FOLIO_MAX_UPLOAD_MB)",
        )


def _read_docx(name: str, data: bytes) -> ExtractedDocument:
    import docx

    try:
        body = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many kinds on broken files
        raise DocumentError(name, f"is not a readable Word document ({exc})") from exc
    lines = [p.text for p in body.paragraphs]
    for table in body.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    title = body.core_properties.title or ""
    text = normalize_page_text("\n".join(lines))
    return ExtractedDocument("docx", (PageText(0, text),), derive_metadata(name, title))


def _read_pdf(
    name: str, data: bytes, max_pages: int, limits: ReadLimits | None
) -> ExtractedDocument:
    import pypdf
    import pypdfium2 as pdfium

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(
                name, "is protected by a password; remove the password and upload it again"
            )
        page_count = len(reader.pages)
        info = reader.metadata
        pdf_title = str(info.title or "") if info else ""
    except DocumentError:
        raise
    except Exception as exc:  # pypdf raises PdfReadError, ValueError, KeyError, ...
        raise DocumentError(name, f"is not a readable PDF (corrupt or truncated: {exc})") from exc
    if page_count == 0:
        raise DocumentError(name, "is a PDF with no pages")
    if page_count > max_pages:
        raise DocumentError(
            name, f"has {page_count} pages, over the limit of {max_pages} (FOLIO_MAX_PAGES)"
        )
    if limits is not None:
        _check_content(name, reader, limits)
    with PDFIUM:
        try:
            pdf = pdfium.PdfDocument(data, password="")
        except pdfium.PdfiumError as exc:
            raise DocumentError(name, f"is not a readable PDF ({exc})") from exc
        try:
            sizes = tuple(_page_size(name, pdf, i) for i in range(len(pdf)))  # pages not loaded
            texts = [_page_text(pdf, i) for i in range(len(pdf))]
        finally:
            pdf.close()
    pages = tuple(PageText(i, normalize_page_text(text)) for i, text in enumerate(texts))
    return ExtractedDocument("pdf", pages, derive_metadata(name, pdf_title), sizes)


def _check_content(name: str, reader: object, limits: ReadLimits) -> None:
    """Refuse a PDF whose pages would take pdfium too long to parse (``pdf_cost``)."""
    left = limits.document_content
    for index, page in enumerate(reader.pages):  # type: ignore[attr-defined]
        budget = min(limits.page_content, left)
        try:
            cost = page_content_cost(page, budget)
        except OverBudget as exc:
            if budget == limits.page_content:
                raise DocumentError(
                    name,
                    f"page {index + 1} draws more than {limits.page_content / MB:,.0f} MB of "
                    "content, the limit for one page (FOLIO_MAX_PAGE_CONTENT_MB)",
                ) from exc
            raise DocumentError(
                name,
                f"its first {index + 1} pages draw more than "
                f"{limits.document_content / MB:,.0f} MB of content, the limit for one "
                "document (FOLIO_MAX_DOCUMENT_CONTENT_MB)",
            ) from exc
        except Exception as exc:  # pypdf cannot follow the page: nor can its cost be known
            raise DocumentError(
                name, f"is not a readable PDF (page {index + 1}: {_describe(exc)})"
            ) from exc
        left -= cost


def _page_size(name: str, pdf: object, index: int) -> tuple[float, float]:
    """A page's (width, height) in points, read without loading (parsing) the page."""
    width, height = pdf.get_page_size(index)  # type: ignore[attr-defined]
    if max(width, height) > MAX_PAGE_SIDE_POINTS:
        raise DocumentError(
            name,
            f"page {index + 1} is too large ({width / 72:,.0f} x {height / 72:,.0f} inches; "
            "PDF pages are at most 200 inches a side)",
        )
    return float(width), float(height)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _page_text(pdf: object, index: int) -> str:
    page = pdf[index]  # type: ignore[index]
    textpage = page.get_textpage()
    try:
        text: str = textpage.get_text_bounded()
    finally:
        textpage.close()
        page.close()
    return text


_AUTHORING_TOOL = re.compile(r"^\s*microsoft (word|powerpoint|excel)\s*-\s*", re.IGNORECASE)
_FILE_SUFFIX = re.compile(r"\.(docx?|pptx?|xlsx?|pdf|indd|rtf|txt)$", re.IGNORECASE)
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")
_PLACEHOLDER_TITLES = frozenset({"untitled", "document", "title", "microsoft word", "pdf"})


def meaningful_title(title: str) -> str:
    """A document's own title, or "" where it says nothing: a filing's accession number
    ("0000764478-17-000008"), "Untitled", "Document", an authoring tool's prefix."""
    title = _FILE_SUFFIX.sub("", _AUTHORING_TOOL.sub("", title.strip())).strip()
    if len(title) < 4 or title.lower() in _PLACEHOLDER_TITLES:
        return ""
    return title if _LETTER_WORD.search(title) else ""


def derive_metadata(name: str, title: str = "") -> DocumentMetadata:
    """Title and year from the document itself or, where its title says nothing, its
    file name."""
    stem = Path(name).stem
    readable = re.sub(r"[_]+", " ", stem).strip()
    title = meaningful_title(title) or readable
    years = [y for y in YEAR.findall(stem) if 1950 <= int(y) <= 2049]  # a plausible year
    return DocumentMetadata(title=title, year=int(years[0]) if years else None)
