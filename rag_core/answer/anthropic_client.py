"""The one place Folio builds an Anthropic SDK client (answers, query rewrites)."""

from __future__ import annotations

from typing import Any


def anthropic_client(api_key: str, base_url: str | None, timeout: float, max_retries: int) -> Any:
    """An ``anthropic.Anthropic`` client; the SDK is imported only when one is needed."""
    import anthropic

    return anthropic.Anthropic(
        api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
    )
