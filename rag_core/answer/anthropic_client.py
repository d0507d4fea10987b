"""The one place Folio builds an Anthropic SDK client (answers, query rewrites)."""

from __future__ import annotations

from typing import Any

from rag_core.errors import ConfigurationError


class AnthropicClient:
    """An ``anthropic.Anthropic`` client for one key and server, built on first use (the SDK
    is imported only then); checks that there is a key when it is made."""

    def __init__(
        self, user: str, api_key: str, base_url: str | None, timeout: float, max_retries: int
    ) -> None:
        if not api_key:
            raise ConfigurationError(f"{user} needs an API key (ANTHROPIC_API_KEY)")
        self.api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import anthropic

            self._client = anthropic.Anthropic(
                api_key=self.api_key,
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client
