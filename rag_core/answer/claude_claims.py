"""The claim check by Claude (``FOLIO_CLAIM_CHECK=llm`` with Claude answering): one forced
tool call labels the sentences (``model_claims`` has the logic)."""

from __future__ import annotations

import json
from typing import Any

from rag_core.answer.anthropic_client import AnthropicClient
from rag_core.answer.claims import OfflineClaimCheck
from rag_core.answer.model_claims import INPUT_SCHEMA, SYSTEM, ModelClaimCheck

TOOL = "record_claim_labels"


class ClaudeClaimCheck(ModelClaimCheck):
    who = "Claude"
    MAX_RETRIES = 1

    def __init__(
        self,
        api_key: str,
        *,
        model: str,
        offline: OfflineClaimCheck,
        base_url: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        super().__init__(offline)
        self._anthropic = AnthropicClient(
            "ClaudeClaimCheck", api_key, base_url, timeout, self.MAX_RETRIES
        )
        self.model = model

    def labels(self, data: dict[str, Any], count: int) -> Any:
        message = self._anthropic.client.messages.create(**self.request(data, count))
        block = next((b for b in message.content if getattr(b, "type", "") == "tool_use"), None)
        if block is None:
            raise ValueError("the reply has no tool call")
        return block.input

    def request(self, data: dict[str, Any], count: int) -> dict[str, Any]:
        """The Messages API request: the sentences with their passages, as JSON data."""
        prompt = "Label every sentence.\ninput: " + json.dumps(data, ensure_ascii=False)
        return {
            "model": self.model,
            "max_tokens": 200 + 60 * count,
            "system": SYSTEM + " Record one label per sentence with the tool.",
            "tools": [
                {
                    "name": TOOL,
                    "description": "Record the support label of each sentence.",
                    "input_schema": INPUT_SCHEMA,
                }
            ],
            "tool_choice": {"type": "tool", "name": TOOL},
            "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
        }
