"""What the upload event may ingest: files Gradio's upload route wrote, of the types the core
reads, no larger than the upload limit.

Gradio hands the ``upload`` event whatever ``FileData.path`` its caller sends. It refuses a
path outside its upload folder only once ``launch()`` has run, and ``gr.mount_gradio_app``
never sets that flag (``app.py`` does); while it is unset Gradio *copies* the named server file
into its upload folder and hands the handler the copy. So the handler checks on its own, with
symlinks resolved: a file must be in the upload folder and, while Gradio runs the event, one
that this app's upload route wrote (``Blocks.upload_file_set``).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from gradio import utils
from gradio.context import LocalContext

from rag_core.ingest.readers import KINDS
from rag_core.types import IngestResult

from .errors import error
from .i18n import Lang, t

# The extensions the upload box offers: exactly the ones the core's readers accept.
FILE_TYPES = list(KINDS)


def upload_folder() -> Path:
    """Gradio's upload folder (``GRADIO_TEMP_DIR``, else ``<temp>/gradio``), symlinks resolved."""
    return Path(utils.get_upload_folder()).resolve()


def _uploaded_by_route() -> set[Path] | None:
    """The files this app's upload route wrote, while Gradio runs an event; else None."""
    blocks = LocalContext.blocks.get(None)
    if blocks is None:
        return None
    return {Path(os.path.abspath(p)) for p in blocks.upload_file_set}


def is_uploaded(path: str | Path, uploaded: Collection[Path] | None = None) -> bool:
    """Whether ``path`` is a file a user uploaded: inside the upload folder once resolved and,
    when ``uploaded`` is given, one of those files."""
    resolved = Path(path).resolve()
    if not resolved.is_file() or not resolved.is_relative_to(upload_folder()):
        return False
    return uploaded is None or Path(os.path.abspath(path)) in uploaded


def megabytes(size: int) -> str:
    """A byte count in the unit of FOLIO_MAX_UPLOAD_MB (2**20 bytes), one decimal."""
    return f"{size / 2**20:.1f}"


def limit_text(max_mb: float) -> str:
    """The upload limit as configured: ``200`` for 200, ``0.5`` for 0.5."""
    return f"{max_mb:g}"


@dataclass(frozen=True, slots=True)
class CheckedUploads:
    """An upload's files that may be read, and the ones refused unread (by position)."""

    files: tuple[Path, ...]
    refused: dict[int, IngestResult]


def checked_uploads(paths: Sequence[str], max_mb: float, lang: Lang) -> CheckedUploads:
    """The upload's files; any path that is not an uploaded file refuses the whole upload
    (``gr.Error`` naming it), a file over ``max_mb`` is refused by its size on disk, unread."""
    uploaded = _uploaded_by_route()
    limit = int(max_mb * 2**20)  # Settings.max_upload_bytes
    files: list[Path] = []
    refused: dict[int, IngestResult] = {}
    for position, raw in enumerate(paths):
        path = Path(raw)
        if not is_uploaded(path, uploaded):
            raise error(t("up_not_uploaded", lang, name=path.name))
        size = path.stat().st_size
        if size > limit:
            reason = t("up_too_large", lang, size=megabytes(size), limit=limit_text(max_mb))
            refused[position] = IngestResult(path.name, "failed", None, f"{path.name}: {reason}")
            continue
        files.append(path)
    return CheckedUploads(tuple(files), refused)
