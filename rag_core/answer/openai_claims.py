"""The claim check by your own model (``FOLIO_CLAIM_CHECK=llm`` with a model on an
OpenAI-compatible server answering): one chat completion whose reply is the labels as JSON
(``model_claims`` has the logic). JSON rather than a tool call, because not every local server
(or model) serves tool calls; a reply that is not the JSON asked for keeps the offline labels.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rag_core.answer.claims import OfflineClaimCheck
from rag_core.answer.model_claims import SYSTEM, ModelClaimCheck
from rag_core.answer.openai_client import ChatClient, without_reasoning

REPLY_FORMAT = (
    ' Reply with JSON only, one label per sentence: {"labels": [{"id": 1, "support": '
    '"supported", "reason": "a few words"}]}; support is one of "supported", "partial", '
    '"unsupported".'
)


class OpenAIClaimCheck(ModelClaimCheck):
    who = "Your model"

    def __init__(self, chat: ChatClient, *, offline: OfflineClaimCheck) -> None:
        super().__init__(offline)
        self.chat = chat
        self.model = chat.model

    def labels(self, data: dict[str, Any], count: int) -> Any:
        return parse_json_reply(self.chat.complete(self.request(data, count)))

    def request(self, data: dict[str, Any], count: int) -> dict[str, Any]:
        prompt = "Label every sentence.\ninput: " + json.dumps(data, ensure_ascii=False)
        return {
            "model": self.chat.model,
            "max_tokens": 200 + 60 * count,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM + REPLY_FORMAT},
                {"role": "user", "content": prompt},
            ],
        }


def parse_json_reply(text: str) -> Any:
    """The JSON object in a model's reply (reasoning and code fences around it dropped); a
    ``ValueError`` when there is none."""
    text = without_reasoning(text).strip()
    found = re.search(r"\{.*\}", text, re.DOTALL)
    if found is None:
        raise ValueError("the reply has no JSON object")
    return json.loads(found.group())
