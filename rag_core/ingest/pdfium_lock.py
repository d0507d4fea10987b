"""One lock for every pdfium call in the process: pdfium is not thread-safe.

Ingest reads and renders PDFs on the writer's thread while questions read cited pages'
character boxes (``boxes``) on request threads; each holds ``PDFIUM`` while pdfium works
(rendering takes it page by page, so a question waits at most one page's drawing).
"""

from __future__ import annotations

import threading

PDFIUM = threading.RLock()
