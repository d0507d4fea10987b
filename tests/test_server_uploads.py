"""Hostile uploads through the real server process (``python app.py``): each fails alone with
a reason, the rest of its batch is indexed, and the server's memory stays bounded."""

from __future__ import annotations

import httpx
import pytest

from .app_process import AppProcess
from .hostile_files import page_of_size
from .measure_ingest import memory_kb, reset_peak

pytestmark = [pytest.mark.slow, pytest.mark.security]

BAD_UTF16 = b"\xff\xfe" + b"\x00\xd8\x41\x00"  # a high surrogate with no low one after it


def upload(url: str, files: list[tuple[str, bytes]]) -> list[tuple[str, str, str | None]]:
    response = httpx.post(
        f"{url}/api/v1/documents",
        files=[("files", (name, data, "application/octet-stream")) for name, data in files],
        timeout=300,
    )
    assert response.status_code == 200, response.text
    return [(r["name"], r["status"], r["error"]) for r in response.json()["results"]]


def test_hostile_uploads_through_the_server(tmp_path):
    server = AppProcess(tmp_path / "data", tmp_path / "run")
    try:
        server.start()
        assert server.process is not None
        pid = str(server.process.pid)

        # A text file that cannot be decoded fails alone; the files around it are indexed.
        reason = "starts with a UTF-16 byte order mark but is not valid UTF-16 text (byte 2)"
        long_name = "a" * 1000 + ".md"
        assert upload(
            server.url,
            [
                ("valid.md", b"# Orchards\n\nApples grow in orchards."),
                ("bad-utf16.txt", BAD_UTF16),
                ("valid2.txt", b"Pears ripen in September."),
                (long_name, b"# Long\n\nA file with a very long name."),
            ],
        ) == [
            ("valid.md", "added", None),
            ("bad-utf16.txt", "failed", f"bad-utf16.txt: {reason}"),
            ("valid2.txt", "added", None),
            ("a" * 252 + ".md", "added", None),  # shortened before its extension
        ]
        documents = httpx.get(f"{server.url}/api/v1/documents").json()["documents"]
        assert {d["name"]: (d["status"], d["chunks"] > 0, d["error"]) for d in documents} == {
            "valid.md": ("ready", True, None),
            "bad-utf16.txt": ("failed", False, reason),
            "valid2.txt": ("ready", True, None),
            "a" * 252 + ".md": ("ready", True, None),
        }

        # The pixel bomb: 1.4 KB files with one 200 x 200-inch page (7.7 GB of server memory
        # before: 1.58 to 7.72 GB) and one of 1000 x 1000 inches (a MemoryError, no reason).
        before = memory_kb("VmRSS", pid)
        reset_peak(pid)
        assert upload(
            server.url,
            [("poster.pdf", page_of_size(200, 200)), ("huge.pdf", page_of_size(1000, 1000))],
        ) == [
            ("poster.pdf", "added", None),
            (
                "huge.pdf",
                "failed",
                "huge.pdf: page 1 is too large (1,000 x 1,000 inches; PDF pages are at most "
                "200 inches a side)",
            ),
        ]
        growth_mb = (memory_kb("VmHWM", pid) - before) / 1024
        assert growth_mb < 600, growth_mb
        print(f"server peak memory growth for the pixel bomb: {growth_mb:.0f} MB")
    finally:
        server.stop()
