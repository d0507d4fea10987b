"""Looking at a watched folder: the files it holds now, each with its stamp (size, times).

A file counts when an include pattern matches it and no exclude pattern does. Patterns are
shell globs matched without regard to case against the path inside the folder (``/`` between
folders, ``*`` crossing them, ``**/`` standing for any folders or none) or, for a pattern
without ``/``, against the file's name alone: ``*.pdf`` is every PDF at any depth,
``drafts/*`` everything under ``drafts``. An exclude pattern that matches a folder skips it
whole. Hidden files and folders (``.*``) and Office's lock files (``~$*``) are always left out.

Symbolic links are followed only where they stay inside the folder (every link resolved); one
that leads out of it is skipped and reported, as is a name that is not text. Only regular
files count: a FIFO named ``x.md`` would block its reader forever.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag_core.ingest.readers import KINDS

DEFAULT_INCLUDE = tuple(f"*{suffix}" for suffix in KINDS)  # what the readers read
ALWAYS_EXCLUDED = (".*", "~$*")


@dataclass(frozen=True, slots=True)
class Stamp:
    """What a ``stat`` says of a file: a file whose stamp did not change is not read again."""

    size: int
    mtime_ns: int
    ctime_ns: int  # changes with permissions too: a failed file is retried after a chmod

    @classmethod
    def of(cls, st: os.stat_result) -> Stamp:
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry of the folder left out, and why (a link out of it, a name that is not text,
    or it cannot be read now: then what the source had of it stays as it was)."""

    path: str
    reason: str
    unreadable: bool = False


@dataclass(frozen=True, slots=True)
class Rules:
    include: tuple[str, ...] = DEFAULT_INCLUDE
    exclude: tuple[str, ...] = ()

    def wants(self, path: str) -> bool:
        """Whether the file at ``path`` (inside the folder, ``/`` between folders) counts."""
        return any(matches(path, p) for p in self.include) and not self.leaves_out(path)

    def leaves_out(self, path: str) -> bool:
        """Whether an exclude pattern (or an always-excluded one) matches ``path``."""
        return any(matches(path, p) for p in (*ALWAYS_EXCLUDED, *self.exclude))


def matches(path: str, pattern: str) -> bool:
    """Whether ``pattern`` matches ``path`` (pure; see the module's docstring)."""
    whole_path, regex = _compiled(pattern)
    return regex.match(path.lower() if whole_path else path.rsplit("/", 1)[-1].lower()) is not None


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> tuple[bool, re.Pattern[str]]:
    """(whether it matches the whole path, the regular expression of its variants)."""
    pattern = pattern.strip().lower()
    variants = sorted({pattern, pattern.replace("**/", "")})
    regex = "|".join(f"(?:{fnmatch.translate(v)})" for v in variants)
    return "/" in pattern, re.compile(regex)


def check_patterns(field_name: str, patterns: Sequence[str]) -> tuple[str, ...]:
    """The patterns without blanks; a ``ValueError`` naming a pattern that cannot work."""
    kept = []
    for raw in patterns:
        pattern = raw.strip()
        if not pattern:
            continue
        if pattern.startswith("/") or len(pattern) > 200 or not pattern.isprintable():
            raise ValueError(
                f"{field_name}: {pattern[:60]!r} is not a pattern inside the folder "
                "(no leading '/', printable, at most 200 characters)"
            )
        kept.append(pattern)
    return tuple(kept)


class FolderUnavailable(Exception):
    """The folder is missing, not a folder, or cannot be listed (an unmounted drive)."""


@dataclass(frozen=True, slots=True)
class FolderScan:
    files: Mapping[str, Stamp]  # path inside the folder -> stamp, of the files that count
    skipped: tuple[Skipped, ...] = ()
    empty: bool = False  # nothing at all in the folder, not even files left out


def scan_folder(root: Path, rules: Rules) -> FolderScan:
    """The files of ``root`` that ``rules`` want; ``FolderUnavailable`` says why not."""
    try:
        real_root = root.resolve(strict=True)
        top = os.stat(real_root)
    except (OSError, RuntimeError) as exc:
        raise FolderUnavailable(f"the folder {root} is missing ({_why(exc)})") from exc
    if not real_root.is_dir():
        raise FolderUnavailable(f"{root} is not a folder")
    try:
        entries = list(os.scandir(root))
    except OSError as exc:
        raise FolderUnavailable(f"the folder {root} cannot be read ({_why(exc)})") from exc
    walk = _Walk(real_root, rules, visited={(top.st_dev, top.st_ino)})
    walk.folder(entries, "")
    return FolderScan(walk.files, tuple(walk.skipped), empty=not entries)


@dataclass
class _Walk:
    """One scan's state: what it found so far, and the folders it has been in."""

    real_root: Path
    rules: Rules
    visited: set[tuple[int, int]]  # (device, inode) of folders: a link back up is a loop
    files: dict[str, Stamp] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)

    def folder(self, entries: list[os.DirEntry[str]], prefix: str) -> None:
        for entry in entries:
            path = prefix + entry.name
            if not _is_text(path):
                shown = path.encode("utf-8", "backslashreplace").decode("utf-8")
                self.skip(shown, "its name is not text (not UTF-8, or control characters)")
                continue
            try:
                self.entry(entry, path)
            except (OSError, RuntimeError) as exc:  # no permission, a link loop, gone meanwhile
                self.skipped.append(Skipped(path, f"cannot be read ({_why(exc)})", True))

    def entry(self, entry: os.DirEntry[str], path: str) -> None:
        if entry.is_symlink() and not Path(entry.path).resolve().is_relative_to(self.real_root):
            self.skip(path, "a link out of the folder: not followed")
        elif entry.is_dir():
            st = entry.stat()
            if self.rules.leaves_out(path) or (st.st_dev, st.st_ino) in self.visited:
                return
            self.visited.add((st.st_dev, st.st_ino))
            self.folder(list(os.scandir(entry.path)), path + "/")
        elif entry.is_file() and self.rules.wants(path):
            self.files[path] = Stamp.of(entry.stat())

    def skip(self, path: str, reason: str) -> None:
        self.skipped.append(Skipped(path, reason))


def _is_text(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return path.isprintable()


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
