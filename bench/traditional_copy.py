"""A Traditional Chinese copy of a Simplified Chinese beir set, for measuring retrieval.

Converts the corpus (titles and texts) and the queries (texts, and answers in metadata) with
OpenCC and copies the qrels as they are (ids do not change), so ``python -m rag_core eval``
runs on the copy as on the original. The copy is written outside the repository:

    pip install --target /tmp/opencc-lib opencc==1.4.2    # bench only, not an app dependency
    PYTHONPATH=/tmp/opencc-lib python bench/traditional_copy.py \\
        --src ../shared/data/xquad_zh --out /tmp/xquad_zht

``--config s2t`` (the default) is OpenCC's character map, Simplified to Traditional
characters; ``s2twp`` also swaps in Taiwanese vocabulary (软件 -> 軟體), a harder test.
``--only queries`` converts the queries alone (Traditional questions over the Simplified
corpus), ``--only corpus`` the corpus alone: a reader of one script searching the other's
documents.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _converter(config: str) -> Callable[[str], str]:
    try:
        import opencc
    except ImportError as exc:
        raise SystemExit(
            "opencc is not installed: pip install --target /tmp/opencc-lib opencc==1.4.2 "
            "and run with PYTHONPATH=/tmp/opencc-lib"
        ) from exc
    convert: Callable[[str], str] = opencc.OpenCC(config).convert
    return convert


def _converted(value: Any, convert: Callable[[str], str]) -> Any:
    """``value`` with every string in it converted (lists and dicts walked); keys kept."""
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, list):
        return [_converted(v, convert) for v in value]
    if isinstance(value, dict):
        return {k: _converted(v, convert) for k, v in value.items()}
    return value


def convert_jsonl(
    src: Path, out: Path, fields: tuple[str, ...], convert: Callable[[str], str]
) -> int:
    """Copy ``src`` to ``out`` line by line with ``fields`` of each record converted."""
    count = 0
    with src.open(encoding="utf-8") as reader, out.open("w", encoding="utf-8") as writer:
        for line in reader:
            if not line.strip():
                continue
            record = json.loads(line)
            for name in fields:
                if name in record:
                    record[name] = _converted(record[name], convert)
            writer.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", type=Path, required=True, help="a beir set (corpus.jsonl ...)")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write")
    parser.add_argument("--config", default="s2t", help="OpenCC configuration (s2t, s2twp ...)")
    parser.add_argument(
        "--only", choices=("queries", "corpus"), help="convert only these (the other copied)"
    )
    args = parser.parse_args()
    for needed in ("corpus.jsonl", "queries.jsonl", "qrels"):
        if not (args.src / needed).exists():
            raise SystemExit(f"{args.src}: no {needed} (not a beir set)")
    if args.out.resolve() == args.src.resolve():
        raise SystemExit("--out must differ from --src")
    convert = _converter(args.config)
    args.out.mkdir(parents=True, exist_ok=True)

    def same(text: str) -> str:
        return text

    docs = convert_jsonl(
        args.src / "corpus.jsonl",
        args.out / "corpus.jsonl",
        ("title", "text"),
        same if args.only == "queries" else convert,
    )
    queries = convert_jsonl(
        args.src / "queries.jsonl",
        args.out / "queries.jsonl",
        ("text", "metadata"),
        same if args.only == "corpus" else convert,
    )
    shutil.copytree(args.src / "qrels", args.out / "qrels", dirs_exist_ok=True)
    which = {"queries": "queries only", "corpus": "corpus only"}.get(args.only or "", "both")
    print(f"{args.out}: {docs} documents, {queries} queries; {which} converted ({args.config})")


if __name__ == "__main__":
    main()
