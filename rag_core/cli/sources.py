"""``python -m rag_core source add|list|sync|pause|resume|remove``: watched folders.

The command line may watch any folder the user running it can read (the web app and the API
are limited to ``FOLIO_SOURCE_ROOTS`` where the server is not local).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rag_core.config import Settings
from rag_core.errors import InputError
from rag_core.sources import SourceStatus, SyncReport

if TYPE_CHECKING:
    from rag_core.sources import Sources


def add_source_commands(commands: Any) -> None:
    source = commands.add_parser("source", help="watched folders kept in sync with the library")
    actions = source.add_subparsers(dest="source_command", required=True)
    add = actions.add_parser("add", help="watch a folder (recursively)")
    add.add_argument("folder", type=Path)
    add.add_argument(
        "--every", type=int, help="seconds between syncs, 0: only when asked (default: 60)"
    )
    add.add_argument(
        "--include",
        action="append",
        default=[],
        help="glob of the files to take, repeatable (default: the types Folio reads)",
    )
    add.add_argument("--exclude", action="append", default=[], help="glob to leave out, repeatable")
    add.add_argument("--name", help="the source's name (default: from the folder's name)")
    actions.add_parser("list", help="the sources and their state")
    sync = actions.add_parser("sync", help="sync one source now, or every one not paused")
    sync.add_argument("name", nargs="?")
    for action, text in (("pause", "stop syncing a source"), ("resume", "sync it again")):
        actions.add_parser(action, help=text).add_argument("name")
    remove = actions.add_parser("remove", help="stop watching a folder")
    remove.add_argument("name")
    keep = remove.add_mutually_exclusive_group()
    keep.add_argument(
        "--keep-documents", dest="keep", action="store_true", default=None,
        help="its documents stay in the library",
    )  # fmt: skip
    keep.add_argument(
        "--remove-documents", dest="keep", action="store_false",
        help="its documents leave every index",
    )  # fmt: skip


def run_source_command(
    args: argparse.Namespace, settings: Settings, out: TextIO, stdin: TextIO | None = None
) -> int:
    from rag_core.library import Library

    action = args.source_command
    library = Library.open(settings, workspace=args.workspace, recover=action != "list")
    sources = library.sources
    if action == "list":
        for status in sources.statuses():
            print(status_line(status), file=out)
        return 0
    if action == "add":
        status = sources.add(
            args.folder,
            roots=None,
            name=args.name,
            every=args.every,
            include=args.include,
            exclude=args.exclude,
        )
        print(f"added {status_line(status)}", file=out)
        print(
            f"It syncs while the server runs, or now: python -m rag_core source sync {status.name}",
            file=out,
        )
        return 0
    if action in ("pause", "resume"):
        status = sources.pause(args.name) if action == "pause" else sources.resume(args.name)
        print(status_line(status), file=out)
        return 0
    if action == "remove":
        return _remove(sources, args.name, args.keep, out, stdin or sys.stdin)
    reports = [sources.sync(args.name)] if args.name else sources.sync_all()
    for report in reports:
        print_report(report, out)
    return 1 if any(r.error or r.failed for r in reports) else 0


def _remove(sources: Sources, name: str, keep: bool | None, out: TextIO, stdin: TextIO) -> int:
    status = sources.status(name)
    if keep is None:
        if not stdin.isatty():
            raise InputError(
                "source remove",
                "say --keep-documents or --remove-documents (standard input is not a terminal "
                "to ask on)",
            )
        keep = _ask_keep(status, out, stdin)
    removed = sources.remove(name, keep_documents=keep)
    if keep:
        print(f"removed source {name}; its documents stay in the library", file=out)
    else:
        print(f"removed source {name} and {removed} documents", file=out)
    return 0


def _ask_keep(status: SourceStatus, out: TextIO, stdin: TextIO) -> bool:
    question = (
        f"Source {status.name} ({status.source.root}) has {status.files} files. "
        "Keep their documents in the library? [k]eep / [r]emove: "
    )
    for _ in range(3):
        out.write(question)
        out.flush()
        answer = stdin.readline().strip().lower()
        if answer in ("k", "keep"):
            return True
        if answer in ("r", "remove"):
            return False
    raise InputError("source remove", "no answer (k or r); nothing was removed")


def status_line(status: SourceStatus) -> str:
    source = status.source
    state = f"paused ({source.paused})" if source.paused else "on"
    state = "syncing" if status.syncing else state
    every = f"every {source.every} s" if source.every else "manual"
    when = f"{source.last_sync_at:%Y-%m-%d %H:%M:%S}" if source.last_sync_at else "never"
    line = (
        f"{source.name}  {source.root}  {state}, {every}; {status.files} files, "
        f"{len(status.failures)} failing; last sync {when}"
    )
    if source.paused_detail:
        line += f"\n  {source.paused_detail}"
    return line


def print_report(report: SyncReport, out: TextIO) -> None:
    if report.error:
        print(f"{report.source}: not synced: {report.error}", file=out)
        return
    print(
        f"{report.source}: {report.seen} files: {report.added} added, {report.updated} updated, "
        f"{report.renamed} renamed, {report.removed} removed, {report.unchanged} unchanged, "
        f"{len(report.waiting)} waiting, {len(report.failed)} failing ({report.seconds:.1f} s)",
        file=out,
    )
    for path in report.waiting:
        print(f"  waiting  {path}: still being written; taken at the next sync", file=out)
    for failure in report.failed:
        print(f"  failed   {failure.path}: {failure.reason}", file=out)
    for skipped in report.skipped:
        print(f"  skipped  {skipped.path}: {skipped.reason}", file=out)
