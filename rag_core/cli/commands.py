"""``python -m rag_core add|remove|list|search|ask|reindex|reembed|status|vision|ocr|source|user``.

The same ``Library`` API the web app uses. Pages print as a reader counts them (from 1).
Each command is one plain function ``(args, settings, out) -> exit code``; ``COMMANDS``
maps the command's name to it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rag_core.cli.accounts import add_user_commands, run_user_command
from rag_core.cli.eval import (
    add_answer_arguments,
    add_eval_commands,
    cmd_calibrate,
    cmd_eval,
    cmd_export_feedback,
    cmd_judge_agreement,
)
from rag_core.cli.sources import add_source_commands, run_source_command
from rag_core.config import DEFAULT_WORKSPACE, Settings
from rag_core.errors import FolioError
from rag_core.types import (
    Answer,
    AnswerDone,
    DocumentMetadata,
    Filters,
    IngestResult,
    TextDelta,
)

if TYPE_CHECKING:
    from rag_core.library import Library

Command = Callable[[argparse.Namespace, Settings, TextIO], int]
MAX_K = 1000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rag_core", description="Folio's library")
    parser.add_argument(
        "--workspace", default=DEFAULT_WORKSPACE, help="workspace (default: %(default)s)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_library_commands(commands)
    _add_question_commands(commands)
    evaluate = commands.add_parser("eval", help="measure retrieval on a beir or pdfqa set")
    evaluate.add_argument("set_dir", type=Path)
    evaluate.add_argument("--legs", nargs="+", default=["bm25", "dense", "hybrid"])
    evaluate.add_argument("--limit", type=int, help="only the first N questions")
    evaluate.add_argument("--out", type=Path, help="folder for the JSON and markdown results")
    add_answer_arguments(evaluate)
    add_eval_commands(commands)
    add_source_commands(commands)
    add_user_commands(commands)
    _add_apikey_commands(commands)
    return parser


def _add_library_commands(commands: argparse._SubParsersAction) -> None:
    add = commands.add_parser("add", help="add files (PDF, Markdown, text, DOCX)")
    add.add_argument("paths", nargs="+", type=Path)
    add.add_argument("--title")
    add.add_argument("--year", type=int)
    add.add_argument("--category")
    add.add_argument("--tag", action="append", default=[])

    remove = commands.add_parser("remove", help="remove a document (by name or id)")
    remove.add_argument("document")

    commands.add_parser("list", help="list documents")
    commands.add_parser("status", help="library summary and notices")

    reindex = commands.add_parser("reindex", help="index a stored document again")
    reindex.add_argument("document")

    commands.add_parser("reembed", help="re-embed the library with FOLIO_EMBED_MODEL")

    vision = commands.add_parser("vision", help="the vision index of page images")
    vision.add_argument(
        "action",
        choices=["status", "run", "pause", "resume"],
        help="status; run (index pending pages now, in the foreground); pause; resume",
    )
    ocr = commands.add_parser("ocr", help="OCR of pages without a usable text layer")
    ocr.add_argument(
        "action",
        choices=["status", "run", "pause", "resume"],
        help="status; run (work through the OCR backlog now, until it is empty); pause; resume",
    )


def _add_question_commands(commands: argparse._SubParsersAction) -> None:
    for name, help_text in (
        ("search", "show the retrieved chunks"),
        ("ask", "answer with citations"),
    ):
        cmd = commands.add_parser(name, help=help_text)
        cmd.add_argument("query", type=unicode_text)
        cmd.add_argument(
            "--doc",
            action="append",
            default=[],
            type=unicode_text,
            help="restrict to a document (repeatable)",
        )
        cmd.add_argument("--year", type=int, action="append", default=[])
        cmd.add_argument("--category", action="append", default=[], type=unicode_text)
        cmd.add_argument("--tag", action="append", default=[], type=unicode_text)
        if name == "search":
            cmd.add_argument("-k", type=hits_wanted, default=10, help=f"hits to show, 1 to {MAX_K}")
            cmd.add_argument("--pages", action="store_true", help="also print the ranked pages")
        else:
            cmd.add_argument("--trace", action="store_true", help="print the retrieval trace")
            cmd.add_argument(
                "--json",
                action="store_true",
                help="print the whole answer as one JSON object (answer, mode, refused, "
                "sentences with their support, citations, trace)",
            )


def unicode_text(value: str) -> str:
    """An argument that is text: bytes the terminal's encoding cannot decode reach Python as
    lone surrogates, which the library cannot store, search or print."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise argparse.ArgumentTypeError(
            f"is not valid text: character {exc.start} is U+{ord(value[exc.start]):04X}, a lone "
            "surrogate (bytes that are not UTF-8?)"
        ) from None
    return value


def hits_wanted(value: str) -> int:
    """``-k``: a whole number of hits from 1 to ``MAX_K``."""
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= k <= MAX_K:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_K}, not {k}")
    return k


def _add_apikey_commands(commands: argparse._SubParsersAction) -> None:
    apikey = commands.add_parser("apikey", help="keys of the HTTP API (one workspace each)")
    apikey_actions = apikey.add_subparsers(dest="action", required=True)
    create = apikey_actions.add_parser("create", help="make a key; its token is printed once")
    create.add_argument("--workspace", dest="key_workspace", required=True)
    create.add_argument("--name", required=True)
    apikey_actions.add_parser("list", help="list keys (never their tokens)")
    revoke = apikey_actions.add_parser("revoke", help="revoke a key by id or name")
    revoke.add_argument("key")


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        return COMMANDS[args.command](args, settings, out)
    except FolioError as exc:
        print(f"error: {exc}", file=err)
        return 1


def _library(
    args: argparse.Namespace, settings: Settings, *, writes: bool, check_model: bool = True
) -> Library:
    """The workspace's library. Only a command that writes repairs what a crash interrupted:
    a read-only one must not re-ingest a document that a running server is still ingesting
    (it cannot tell that from a crash)."""
    from rag_core.library import Library

    return Library.open(settings, workspace=args.workspace, recover=writes, check_model=check_model)


# Library commands -------------------------------------------------------------------------
def cmd_add(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    meta = None
    if args.title or args.year or args.category or args.tag:
        meta = DocumentMetadata(args.title or "", args.year, args.category, tuple(args.tag))
    report = _library(args, settings, writes=True).add(args.paths, meta)
    for result in report.results:
        print(_added_line(result), file=out)
    return 1 if report.failed else 0


def _added_line(r: IngestResult) -> str:
    if r.status == "failed":
        return f"failed     {r.error}"
    if r.status == "unchanged":
        return f"unchanged  {r.name}: already in the library"
    return (
        f"{r.status:<10} {r.name}: {r.pages} pages ({r.pages_without_text} without "
        f"text), {r.chunks} chunks, {r.embedded} embedded, {r.reused} reused"
    )


def cmd_remove(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    library = _library(args, settings, writes=True)
    doc = library.remove(library.find(args.document).id)
    print(f"removed {doc.name}", file=out)
    return 0


def cmd_reindex(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    library = _library(args, settings, writes=True)
    r = library.reindex(library.find(args.document).id)
    print(
        f"{r.status} {r.name}: {r.chunks} chunks" + (f" ({r.error})" if r.error else ""),
        file=out,
    )
    return 0 if r.status != "failed" else 1


def cmd_reembed(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    library = _library(args, settings, writes=True, check_model=False)
    count = library.reembed()
    print(f"re-embedded {count} chunks with {library.embedder.name}", file=out)
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    for d in _library(args, settings, writes=False).documents():
        line = (
            f"{d.id[:12]}  {d.status:<8} {d.name}  {d.pages} pages, {d.chunks} chunks, "
            f"{d.pages_without_text} without text"
        )
        print(line + (f"  [{d.error}]" if d.error else ""), file=out)
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    s = _library(args, settings, writes=False).status()
    print(
        f"{s.ready} ready / {s.documents} documents, {s.pages} pages, {s.chunks} chunks; "
        f"embedder {s.embed_model}; answers: {s.answer_mode} ({s.answer_model})",
        file=out,
    )
    for notice in s.notices:
        print(f"notice: {notice}", file=out)
    return 0


# Questions --------------------------------------------------------------------------------
def _filters(library: Library, args: argparse.Namespace) -> Filters:
    return Filters(
        doc_ids=tuple(library.find(d).id for d in args.doc),
        years=tuple(args.year),
        categories=tuple(args.category),
        tags=tuple(args.tag),
    )


def cmd_search(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    library = _library(args, settings, writes=False)
    result = library.search(args.query, k=args.k, filters=_filters(library, args))
    for note in result.trace.notes:
        print(f"note: {note}", file=out)
    for hit in result.hits:
        legs = " ".join(f"{lr.leg}#{lr.rank}" for lr in hit.legs)
        snippet = " ".join(hit.chunk.text.split())[:80]
        print(
            f"{hit.rank:>2}. {hit.doc_name}  page {hit.chunk.page_number}  "
            f"score {hit.score:.4f}  [{legs}]  {snippet}",
            file=out,
        )
    if args.pages:
        for page in result.pages:
            legs = " ".join(f"{lr.leg}#{lr.rank}" for lr in page.legs)
            print(
                f"p{page.rank:>2}. {page.doc_name}  page {page.page_number}  "
                f"score {page.score:.4f}  [{legs}]",
                file=out,
            )
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    library = _library(args, settings, writes=False)
    if args.json:
        answer = library.ask(args.query, filters=_filters(library, args))
        json.dump(answer_json(answer), out, ensure_ascii=False, indent=2)
        out.write("\n")
        return 0
    for event in library.ask_stream(args.query, filters=_filters(library, args)):
        if isinstance(event, TextDelta):
            out.write(event.text)
            out.flush()
        elif isinstance(event, AnswerDone):
            out.write("\n\n")
            _print_sources(event.answer, out)
            if args.trace:
                _print_trace(event.answer, out)
    return 0


def answer_json(answer: Answer) -> dict[str, Any]:
    """The whole answer as JSON values (pages counted from 1, spans in the page text)."""
    trace = answer.trace
    return {
        "question": answer.question,
        "answer": answer.text,
        "mode": answer.mode,
        "model": answer.model,
        "refused": answer.refused,
        "evidence_found": answer.evidence_found,
        "sentences": [
            {
                "text": c.text,
                "citations": list(c.citations),
                "support": c.support,
                "reason": c.reason,
            }
            for c in answer.sentences
        ],
        "citations": [
            {
                "number": c.number,
                "kind": c.kind,
                "document": c.doc_name,
                "document_id": c.doc_id,
                "page": c.page_number,
                "span": [c.start, c.end],
                "cited_text": c.cited_text,
                "boxes": [[round(v, 5) for v in box] for box in c.boxes],
            }
            for c in answer.citations
        ],
        "trace": {
            "searched_query": trace.searched_query,
            "route": trace.route,
            "subqueries": [sub.query for sub in trace.subqueries],
            "filters": {"doc_ids": list(trace.filters.doc_ids)},
            "legs": [
                {
                    "leg": x.leg,
                    "status": x.status,
                    "weight": x.weight,
                    "note": x.note,
                    "ms": round(x.elapsed_ms, 3),
                }
                for x in trace.legs
            ],
            "hits": [
                {
                    "rank": h.rank,
                    "document": h.doc_name,
                    "page": h.chunk.page_number,
                    "score": round(h.score, 6),
                    "legs": {lr.leg: lr.rank for lr in h.legs},
                }
                for h in answer.hits
            ],
            "timings": [{"stage": t.stage, "ms": round(t.ms, 3)} for t in answer.stage_timings],
            "notes": list(trace.notes),
            "agent_steps": [
                {
                    "step": x.step,
                    "tool": x.tool,
                    "arguments": x.arguments,
                    "hits": x.hits,
                    "ms": round(x.ms, 3),
                    "error": x.error,
                }
                for x in trace.agent_steps
            ],
        },
    }


def _print_sources(answer: Answer, out: TextIO) -> None:
    if answer.mode == "extractive" and not answer.refused:
        print("(extractive answer: no language model configured)", file=out)
    for c in answer.citations:
        if c.kind == "page":
            print(f"[{c.number}] {c.doc_name}, page {c.page_number} (page image)", file=out)
            continue
        quote = " ".join(c.cited_text.split())[:100]
        print(f"[{c.number}] {c.doc_name}, page {c.page_number}: “{quote}”", file=out)
    for check in answer.sentences:
        if check.support != "supported":
            mark = "⚠" if check.support == "unsupported" else "◐"
            sentence = check.text if len(check.text) <= 100 else check.text[:99] + "…"
            print(f"{mark} {check.support}: “{sentence}” ({check.reason})", file=out)


def cmd_apikey(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from rag_core.auth.api_keys import ApiKeys

    keys = ApiKeys.open(settings.registry_url)
    if args.action == "create":
        made = keys.create(args.key_workspace, args.name)
        print(f"key {made.key.id} ({made.key.name}) for workspace {made.key.workspace}", file=out)
        print(made.token, file=out)
        print("Keep this token now: Folio stores only its hash and cannot show it again.", file=out)
        return 0
    if args.action == "revoke":
        key = keys.revoke(args.key)
        print(f"revoked {key.id} ({key.name}, workspace {key.workspace})", file=out)
        return 0
    for key in keys.list_keys():
        state = "active" if key.active else f"revoked {key.revoked_at:%Y-%m-%d %H:%M}"
        print(
            f"{key.id}  {key.workspace:<12} {key.name:<20} {key.prefix}…  "
            f"created {key.created_at:%Y-%m-%d %H:%M}  {state}",
            file=out,
        )
    return 0


def cmd_vision(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from rag_core.vision import VisionProgress

    action = args.action
    library = _library(args, settings, writes=action != "status")
    assert library.vision is not None
    vision = library.vision
    if action == "pause":
        vision.pause()
        print("vision indexing paused", file=out)
        return 0
    if action == "resume":
        vision.resume()
        print("vision indexing resumed", file=out)
        return 0
    if action == "run":

        def report(p: VisionProgress) -> None:
            rate = f", {p.pages_per_second:.3g} pages/s" if p.pages_per_second else ""
            print(f"vision index: {p.done}/{p.total} pages{rate}", file=out, flush=True)

        progress = vision.status().progress
        if progress is not None and progress.paused:
            print("vision indexing is paused (python -m rag_core vision resume)", file=out)
            return 0
        count = vision.run(on_batch=report)
        print(f"indexed {count} pages", file=out)
        return 0
    status = vision.status()
    print(f"vision index: {status.state}, model {status.model}", file=out)
    if status.state != "on":
        print(status.notice, file=out)
        return 0
    p = status.progress
    assert p is not None
    stats = vision.store.stats()
    print(
        f"{p.done}/{p.total} pages indexed{' (paused)' if p.paused else ''}; "
        f"{stats.bytes / 1e6:.1f} MB on disk, {stats.bytes_per_page / 1e3:.1f} KB per page",
        file=out,
    )
    if p.error:
        print(f"notice: {p.error}", file=out)
    return 0


def cmd_ocr(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from rag_core.ocr import OcrProgress

    action = args.action
    library = _library(args, settings, writes=action != "status")
    ocr = library.ocr
    assert ocr is not None
    if action in ("pause", "resume"):
        ocr.pause() if action == "pause" else ocr.resume()
        print(f"OCR {action}d", file=out)
        return 0
    if action == "run":

        def report(p: OcrProgress) -> None:
            rate = f", {p.pages_per_second:.3g} pages/s" if p.pages_per_second else ""
            print(f"OCR: {p.done}/{p.total} pages{rate}", file=out, flush=True)

        if ocr.state == "on" and ocr.store.paused():
            print("OCR is paused (python -m rag_core ocr resume)", file=out)
            return 0
        count = ocr.run(on_step=report)
        print(f"OCR backlog empty ({count} steps: pages read, documents indexed)", file=out)
        return 0
    status = ocr.status()
    reader = f" ({ocr.engine.name})" if status.state == "on" else ""
    print(f"OCR: {status.state}{reader}", file=out)
    if status.state != "on" or status.progress is None:
        print(status.notice or "FOLIO_OCR=off", file=out)
        return 0
    p = status.progress
    print(f"{p.done}/{p.total} pages read{' (paused)' if p.paused else ''}", file=out)
    for failure in ocr.store.failures():
        print(f"failed: {failure.doc_id} page {failure.page + 1}: {failure.error}", file=out)
    if p.error:
        print(f"notice: {p.error}", file=out)
    return 0


def _print_trace(answer: Answer, out: TextIO) -> None:
    trace = answer.trace
    print(f"searched: {trace.searched_query}", file=out)
    print(f"route: {trace.route}", file=out)
    for sub in trace.subqueries:
        pages = ", ".join(f"{p.doc_name} p.{p.page_number}" for p in sub.pages[:3])
        print(f"sub-query ({trace.split_by}): {sub.query} -> {pages or 'no page'}", file=out)
    if trace.merge:
        print(f"merged: {trace.merge}", file=out)
    if answer.evidence_score is not None:
        print(f"evidence gate: {answer.evidence_score:.3f}", file=out)
    for leg in trace.legs:
        print(f"leg {leg.leg}: {leg.status} weight {leg.weight:.2f} {leg.note}", file=out)
    for x in trace.agent_steps:
        outcome = f"error: {x.error}" if x.error else f"{x.hits} passages"
        print(f"agent step {x.step}: {x.tool} {x.arguments} -> {outcome} ({x.ms:.1f} ms)", file=out)
    for t in (*trace.timings, *answer.timings):
        print(f"{t.stage}: {t.ms:.1f} ms", file=out)


COMMANDS: dict[str, Command] = {
    "add": cmd_add,
    "remove": cmd_remove,
    "reindex": cmd_reindex,
    "reembed": cmd_reembed,
    "list": cmd_list,
    "status": cmd_status,
    "search": cmd_search,
    "ask": cmd_ask,
    "vision": cmd_vision,
    "ocr": cmd_ocr,
    "eval": cmd_eval,
    "judge-agreement": cmd_judge_agreement,
    "calibrate": cmd_calibrate,
    "export-feedback": cmd_export_feedback,
    "apikey": cmd_apikey,
    "source": run_source_command,
    "user": run_user_command,
}
