"""The import contract of docs/architecture.md, checked on the source without importing it.

Every ``.py`` file under ``rag_core/``, ``ui/`` and ``api/`` is parsed with ``ast`` (nothing is
executed) and every import in it is collected: module level, inside functions, under
``if TYPE_CHECKING:``, absolute and relative. From that graph:

(a) the pipeline (``rag_core.ingest``, ``embed``, ``index``, ``retrieve``, ``answer``,
    ``store``) never imports what is built on top of it: ``rag_core.eval``, ``feedback``,
    ``auth``, ``cli``, the facade and the composition (``rag_core.library``, ``assemble``,
    ``workspaces``), the watched folders (``rag_core.sources``), ``ui`` or ``api``;
(b) nothing in ``rag_core`` imports ``gradio``, ``ui`` or ``api``;
(c) ``ui`` never imports a model or store library directly (chromadb, torch, anthropic,
    openai, sentence_transformers): it gets ready objects;
(d) ``rag_core``'s top level stays small: at most 12 modules, the rest in subpackages;
(e) only the composition module ``rag_core/assemble.py`` constructs the library's parts
    (``Retriever``, ``Ingestor``, ``SnapshotStore``, ``ChromaStore``, ``VisionIndex``);
    ``app.py``, tests and benchmarks are outside the checked folders.

A failure names the file, the line and the import (or call) that breaks the contract.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import REPO

CHECKED = ("rag_core", "ui", "api")

PIPELINE = (
    "rag_core.ingest",
    "rag_core.embed",
    "rag_core.index",
    "rag_core.retrieve",
    "rag_core.answer",
    "rag_core.store",
)
ABOVE_PIPELINE = (
    "rag_core.eval",
    "rag_core.feedback",
    "rag_core.auth",
    "rag_core.cli",
    "rag_core.library",
    "rag_core.assemble",
    "rag_core.workspaces",
    "rag_core.sources",
    "ui",
    "api",
)
CORE_MUST_NOT_IMPORT = ("gradio", "ui", "api")
UI_MUST_NOT_IMPORT = ("chromadb", "torch", "anthropic", "openai", "sentence_transformers")
MAX_TOP_LEVEL_MODULES = 12
PARTS = ("Retriever", "Ingestor", "SnapshotStore", "ChromaStore", "VisionIndex")
COMPOSITION = "rag_core/assemble.py"

# Edges (importing file, imported module) that break the contract today and are waiting for a
# redesign, one per line with a comment saying why, e.g.
#     ("rag_core/index/x.py", "rag_core.eval.metrics"),  # TODO(redesign): <why>
# test_known_exceptions_are_still_needed fails once such an import is gone. None today.
KNOWN_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True, slots=True)
class Import:
    file: str  # relative to the repository, e.g. "rag_core/retrieve/retriever.py"
    line: int
    module: str  # the importing module, e.g. "rag_core.retrieve.retriever"
    target: str  # the imported module, resolved, e.g. "rag_core.index.snapshot"

    def __str__(self) -> str:
        return f"{self.file}:{self.line} imports {self.target}"


def source_files(folders: tuple[str, ...] = CHECKED, root: Path = REPO) -> list[Path]:
    return sorted(
        path
        for folder in folders
        for path in (root / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    )


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def resolve_relative(module: str, package: bool, level: int, name: str | None) -> str:
    """The absolute module ``from <level dots><name> import ...`` names inside ``module``."""
    parts = module.split(".")
    if not package:  # a module's own package is its parent
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    if name:
        parts += name.split(".")
    return ".".join(parts)


def imports_of(path: Path, known: frozenset[str], root: Path = REPO) -> list[Import]:
    """Every import statement in ``path``, anywhere in the file, its target resolved.

    ``from P import x`` targets ``P.x`` when that is a module of the tree, else ``P``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    file = path.relative_to(root).as_posix()
    module = module_name(path, root)
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(file, node.lineno, module, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = resolve_relative(module, is_package(path), node.level, node.module)
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                found.append(Import(file, node.lineno, module, sub if sub in known else base))
    return found


def import_graph(root: Path = REPO) -> list[Import]:
    files = source_files(root=root)
    known = frozenset(module_name(p, root) for p in files)
    return [edge for path in files for edge in imports_of(path, known, root)]


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(
    edges: list[Import], sources: tuple[str, ...], targets: tuple[str, ...]
) -> list[str]:
    return [
        str(edge)
        for edge in edges
        if within(edge.module, sources)
        and within(edge.target, targets)
        and (edge.file, edge.target) not in KNOWN_EXCEPTIONS
    ]


def part_constructions(root: Path = REPO) -> list[str]:
    """``Retriever(...)`` and the other parts constructed outside the composition module."""
    found = []
    for path in source_files(root=root):
        file = path.relative_to(root).as_posix()
        if file == COMPOSITION:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in PARTS:
                found.append(f"{file}:{node.lineno} constructs {name}(...)")
    return found


@pytest.fixture(scope="module")
def edges() -> list[Import]:
    return import_graph()


def test_the_graph_sees_every_kind_of_import(edges):
    """The parser finds absolute, relative and function-level imports (else the checks below
    would pass on an empty graph)."""
    seen = {(e.file, e.target) for e in edges}
    assert ("rag_core/library.py", "rag_core.assemble") in seen  # inside Library.open
    assert ("rag_core/retrieve/retriever.py", "rag_core.retrieve.legs") in seen
    assert ("ui/chat.py", "ui.access") in seen  # from .access import served_url
    assert len({e.file for e in edges}) >= 60


def test_the_pipeline_never_imports_what_is_built_on_it(edges):
    found = violations(edges, PIPELINE, ABOVE_PIPELINE)
    assert found == [], (
        "the pipeline (ingest, embed, index, retrieve, answer, store) must not import eval, "
        "feedback, auth, cli, library, assemble, workspaces, ui or api:\n  " + "\n  ".join(found)
    )


def test_the_core_never_imports_gradio_ui_or_api(edges):
    found = violations(edges, ("rag_core",), CORE_MUST_NOT_IMPORT)
    assert found == [], "rag_core must not import gradio, ui or api:\n  " + "\n  ".join(found)


def test_the_ui_never_imports_models_or_stores(edges):
    found = violations(edges, ("ui",), UI_MUST_NOT_IMPORT)
    banned, listing = ", ".join(UI_MUST_NOT_IMPORT), "\n  ".join(found)
    assert found == [], f"ui/ gets ready objects; it must not import {banned}:\n  {listing}"


def test_the_core_top_level_stays_small():
    top = sorted(p.name for p in (REPO / "rag_core").glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, (
        f"rag_core/ has {len(top)} top-level modules (at most {MAX_TOP_LEVEL_MODULES}, "
        f"__init__ and __main__ included): {top}; put the new one in a subpackage"
    )


def test_only_the_composition_module_builds_the_parts():
    found = part_constructions()
    assert found == [], (
        f"only {COMPOSITION} constructs {', '.join(PARTS)} (use rag_core.assemble):\n  "
        + "\n  ".join(found)
    )


def test_known_exceptions_are_still_needed(edges):
    """A known exception whose import is gone must leave the list."""
    seen = {(e.file, e.target) for e in edges}
    stale = sorted(KNOWN_EXCEPTIONS - seen)
    assert stale == [], f"remove these from KNOWN_EXCEPTIONS, the imports are gone: {stale}"


def test_the_checks_catch_a_violation(tmp_path):
    """Each rule fails on a tree that breaks it (a copy of the shape, not the real tree)."""
    files = {
        "rag_core/__init__.py": "",
        "rag_core/retrieve/__init__.py": "",
        "rag_core/retrieve/bad.py": (
            "from rag_core.eval import retrieval\n"
            "def later():\n"
            "    from ..library import Library\n"
            "    import gradio\n"
            "    return Retriever(1)\n"
        ),
        "rag_core/eval/__init__.py": "",
        "rag_core/eval/retrieval.py": "",
        "rag_core/library.py": "",
        "ui/__init__.py": "",
        "ui/tabs/__init__.py": "",
        "ui/tabs/chat.py": "from torch import nn\n",
        "api/__init__.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path)
    assert violations(graph, PIPELINE, ABOVE_PIPELINE) == [
        "rag_core/retrieve/bad.py:1 imports rag_core.eval.retrieval",
        "rag_core/retrieve/bad.py:3 imports rag_core.library",
    ]
    assert violations(graph, ("rag_core",), CORE_MUST_NOT_IMPORT) == [
        "rag_core/retrieve/bad.py:4 imports gradio"
    ]
    assert violations(graph, ("ui",), UI_MUST_NOT_IMPORT) == ["ui/tabs/chat.py:1 imports torch"]
    assert part_constructions(tmp_path) == ["rag_core/retrieve/bad.py:5 constructs Retriever(...)"]
