"""The README's configuration table documents every Settings field: its variable and default."""

from __future__ import annotations

import re

from pydantic import AliasChoices

from rag_core.config import Settings

from .conftest import REPO


def env_names(field: str) -> list[str]:
    """The variables ``Settings.from_env`` reads for a field, conventional name first."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [f"FOLIO_{field.upper()}"]


def readme_table() -> dict[str, tuple[list[str], str]]:
    """First variable of each row -> (every variable named in the row, its default cell)."""
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[list[str], str]] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        variable, default, _meaning = (cell.strip() for cell in line.strip("|").split(" | ", 2))
        names = re.findall(r"`([A-Z0-9_]+)`", variable)
        rows[names[0]] = (names, default)
    return rows


def documented_default(value: object) -> str:
    return "–" if value is None else f"`{value}`"


def test_every_settings_field_is_in_the_readme_table():
    table = readme_table()
    missing = [f for f in Settings.model_fields if env_names(f)[0] not in table]
    assert missing == [], f"add a README configuration row for: {missing}"
    for field, info in Settings.model_fields.items():
        names, default = table[env_names(field)[0]]
        assert names == env_names(field), f"{field}: the row should name {env_names(field)}"
        assert default == documented_default(info.default), f"{field}: default {info.default!r}"


def test_the_readme_table_has_no_row_for_an_unknown_variable():
    known = {env_names(f)[0] for f in Settings.model_fields}
    assert sorted(set(readme_table()) - known) == []


def test_the_documented_variables_are_the_ones_read(monkeypatch):
    monkeypatch.setenv("FOLIO_ROUTE_DOCS", "5")
    monkeypatch.setenv("CHROMA_PORT", "9001")
    monkeypatch.setenv("FOLIO_CHAT_CONCURRENCY", "3")
    s = Settings.from_env(None)
    assert (s.route_docs, s.chroma_port, s.chat_concurrency) == (5, 9001, 3)
