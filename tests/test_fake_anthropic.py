"""The fake Messages API's judge replies, through the real anthropic SDK."""

from __future__ import annotations

import json

import anthropic
import pytest

from .fake_anthropic import FakeAnthropic, minimal_instance

RAGAS_STYLE_PROMPT = (
    "Given a question and an answer, break each sentence into statements.\n"
    "Please return the output in a JSON format that complies with the following schema as "
    'specified in JSON Schema:\n{"properties": {"statements": {"items": {"type": "string"}, '
    '"type": "array"}}, "required": ["statements"], "title": "StatementGeneratorOutput", '
    '"type": "object"}Do not use single quotes in your response but double quotes,properly '
    "escaped with a backslash.\n\n-----------------------------\n\nNow perform the same with "
    'the following input\ninput: {\n    "question": "Where?",\n    "answer": "Oil every 5000 '
    'km. Grade 5W-30 [1]."\n}\nOutput: '
)


@pytest.fixture
def client():
    with FakeAnthropic() as fake:
        yield anthropic.Anthropic(api_key="k", base_url=fake.url, max_retries=0)


def test_a_json_prompt_without_tools_gets_json_text(client):
    reply = client.messages.create(
        model="m", max_tokens=100, messages=[{"role": "user", "content": RAGAS_STYLE_PROMPT}]
    )
    assert reply.stop_reason == "end_turn"
    assert json.loads(reply.content[0].text) == {
        "statements": ["Oil every 5000 km.", "Grade 5W-30."]
    }


def test_an_unknown_tool_gets_a_minimal_valid_input(client):
    schema = {
        "type": "object",
        "properties": {
            "verdicts": {"type": "array", "items": {"$ref": "#/$defs/Verdict"}},
            "note": {"type": "string"},
        },
        "required": ["verdicts"],
        "$defs": {
            "Verdict": {
                "type": "object",
                "properties": {"label": {"enum": ["yes", "no"]}, "score": {"type": "number"}},
                "required": ["label", "score"],
            }
        },
    }
    reply = client.messages.create(
        model="m",
        max_tokens=100,
        messages=[{"role": "user", "content": "Judge this."}],
        tools=[{"name": "Judgement", "input_schema": schema}],
        tool_choice={"type": "tool", "name": "Judgement"},
    )
    [block] = reply.content
    assert (reply.stop_reason, block.type, block.name) == ("tool_use", "tool_use", "Judgement")
    assert block.input == {"verdicts": [{"label": "yes", "score": 0.0}]}
    assert minimal_instance({"type": "array", "items": {"type": "integer"}, "minItems": 2}) == [
        0,
        0,
    ]


def test_tool_use_streams(client):
    with client.messages.stream(
        model="m",
        max_tokens=100,
        messages=[{"role": "user", "content": RAGAS_STYLE_PROMPT}],
        tools=[
            {
                "name": "StatementGeneratorOutput",
                "input_schema": {"type": "object", "properties": {}},
            }
        ],
        tool_choice={"type": "tool", "name": "StatementGeneratorOutput"},
    ) as stream:
        message = stream.get_final_message()
    assert message.stop_reason == "tool_use"
    assert message.content[0].input == {"statements": ["Oil every 5000 km.", "Grade 5W-30."]}


def test_questions_with_search_results_are_still_answered_from_them(client):
    reply = client.messages.create(
        model="m",
        max_tokens=100,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "search_result",
                        "source": "engine.pdf#1",
                        "title": "engine.pdf, page 1",
                        "content": [{"type": "text", "text": "Change the oil every 5000 km."}],
                        "citations": {"enabled": True},
                    },
                    {"type": "text", "text": "How often is the oil changed?"},
                ],
            }
        ],
    )
    assert reply.content[1].text == "Change the oil every 5000 km."
    assert reply.content[1].citations[0].type == "search_result_location"
