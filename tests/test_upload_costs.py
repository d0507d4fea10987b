"""Hostile uploads measured in a real process: what each costs in memory and CPU time.

Before the limits, the same files cost (measured on this machine): the 200-inch page +6.0 GB
and 24 s, the 20 MB content stream 15 s, the form drawn 1,000 times +1.3 GB and 67 s, the
Word file +3.0 GB and 11 s.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import REPO
from .hostile_files import docx_with_xml, form_drawn_pdf, page_of_size, repeated_content_pdf

pytestmark = [pytest.mark.slow, pytest.mark.security]


def measure(tmp_path, files: dict[str, bytes]) -> dict:
    paths = []
    for name, data in files.items():
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-m", "tests.measure_ingest", str(tmp_path / "data"), *map(str, paths)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_hostile_uploads_fail_with_reasons_at_a_bounded_cost(tmp_path):
    measured = measure(
        tmp_path,
        {
            "poster-200in.pdf": page_of_size(200, 200),  # 1.4 KB
            "poster-1000in.pdf": page_of_size(1000, 1000),
            "stream-20mb.pdf": repeated_content_pdf(20),  # 60 KB
            "forms.pdf": form_drawn_pdf(1000, 100),  # 1.2 KB
            "memo.docx": docx_with_xml(300),  # 0.3 MB
            "notes.md": b"# Notes\n\nThe rest of the batch is indexed.",
        },
    )
    assert measured["results"] == [
        ["poster-200in.pdf", "added", None],  # drawn at 31 dpi: 40 megapixels
        [
            "poster-1000in.pdf",
            "failed",
            "poster-1000in.pdf: page 1 is too large (1,000 x 1,000 inches; PDF pages are at "
            "most 200 inches a side)",
        ],
        [
            "stream-20mb.pdf",
            "failed",
            "stream-20mb.pdf: page 1 draws more than 4 MB of content, the limit for one page "
            "(FOLIO_MAX_PAGE_CONTENT_MB)",
        ],
        [
            "forms.pdf",
            "failed",
            "forms.pdf: page 1 draws more than 4 MB of content, the limit for one page "
            "(FOLIO_MAX_PAGE_CONTENT_MB)",
        ],
        [
            "memo.docx",
            "failed",
            "memo.docx: unpacks to 301 MB of XML (921 times its size), over the limit of "
            "50 MB (FOLIO_MAX_DOCX_XML_MB)",
        ],
        ["notes.md", "added", None],
    ]
    # One 40-megapixel page: pdfium's bitmap, its RGB copy, the JPEG encoder (287 MB here).
    assert measured["peak_growth_mb"] < 600, measured
    assert measured["cpu_s"] < 10, measured  # 117 s before (24 + 15 + 67 + 11)
