"""Folio's HTTP API (FastAPI). ``rag_core`` never imports this package; it never imports gradio."""

from .app import create_api
from .observability import JsonFormatter

__all__ = ["JsonFormatter", "create_api"]
