"""Sources (watched folders) end to end: real files in temp folders, real SQLite, Chroma on disk
and the hashing embedder. Each test changes the folder the way a person or a sync tool does
and checks the library against it."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from api.observability import JsonFormatter
from rag_core.cli.commands import main
from rag_core.config import Settings
from rag_core.errors import ConfigurationError, InputError
from rag_core.library import Library
from rag_core.sources.scan import Rules, Stamp, matches, scan_folder
from rag_core.sources.store import Claim
from rag_core.sources.sync import Unreadable, orphans, plan, read_content
from rag_core.types import Document

from .conftest import REPO
from .fakes import HashingEmbedder
from .pdfs import corrupt, make_pdf
from .test_library import assert_consistent

OLD = time.time() - 3600  # files written "an hour ago": settled
_ticks = itertools.count(1)


def write(folder: Path, path: str, content: str | bytes) -> Path:
    """Write a file and give it a modification time of its own (a second after the last one
    written), as an editor does: two writes never share a stamp."""
    target = folder / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        target.write_text(content, encoding="utf-8")
    else:
        target.write_bytes(content)
    stamp = OLD + next(_ticks)
    os.utime(target, (stamp, stamp))
    return target


def content_id(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:32]


def names(library: Library) -> dict[str, str]:
    """Document name -> status."""
    return {d.name: d.status for d in library.documents()}


def in_line(library: Library, folder: Path, files: list[str], source: str = "docs") -> None:
    """The library holds exactly these files of the folder, each as its current bytes."""
    docs = {d.name: d for d in library.documents()}
    assert sorted(docs) == sorted(f"{source}/{f}" for f in files)
    for f in files:
        doc = docs[f"{source}/{f}"]
        assert (doc.status, doc.id) == ("ready", content_id(folder / f))
    assert_consistent(library)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        db=tmp_path / "feedback.db",
        source_settle_seconds=0,
        chunk_tokens=24,
        chunk_overlap=0,
    )


@pytest.fixture
def library(settings: Settings):
    library = Library.open(settings, embedder=HashingEmbedder())
    yield library
    library.stop_background()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    write(folder, "apples.md", "# Apples\n\nThe apple harvest rose to 120 tonnes in 2020.")
    write(folder, "notes/pears.txt", "Pear trees suffered from frost in April.")
    write(folder, "engine.pdf", make_pdf(["Engine Manual\n\nChange the engine oil every year."]))
    write(folder, "table.csv", "not,a,document\n")  # not a type Folio reads: left out
    write(folder, ".hidden.md", "hidden files are left out")
    write(folder, ".git/config.md", "so are hidden folders")
    return folder


FILES = ["apples.md", "engine.pdf", "notes/pears.txt"]


def test_a_first_sync_adds_every_file_the_patterns_want(library: Library, folder: Path):
    status = library.sources.add(folder, roots=None)
    assert (status.name, status.source.every, status.files) == ("docs", 60, 0)
    report = library.sources.sync("docs")
    assert (report.seen, report.added, report.updated, report.removed) == (3, 3, 0, 0)
    assert report.failed == () and report.waiting == () and report.error == ""
    in_line(library, folder, FILES)
    top = library.search("engine oil", k=1).hits[0]
    assert (top.doc_name, top.chunk.page_number) == ("docs/engine.pdf", 1)
    status = library.sources.status("docs")
    assert status.files == 3 and status.source.last_report == report


def test_an_unchanged_file_is_not_read_again(library: Library, folder: Path):
    library.sources.add(folder, roots=None)
    library.sources.sync("docs")
    # Same size and modification time, other bytes: only a sync that reads would notice.
    path = folder / "apples.md"
    st = path.stat()
    path.write_text(path.read_text().replace("120", "999"), encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    report = library.sources.sync("docs")
    assert (report.unchanged, report.added, report.updated) == (3, 0, 0)
    assert "120 tonnes" in library.search("apple harvest", k=1).hits[0].chunk.text


def test_a_changed_file_replaces_its_document_keeping_unchanged_chunks(
    library: Library, folder: Path
):
    paragraphs = [f"Paragraph {i} is about widget{i} and gadget{i} things." for i in range(8)]
    write(folder, "long.md", "\n\n".join(paragraphs))
    library.sources.add(folder, roots=None)
    library.sources.sync("docs")
    before = library.find("docs/long.md")
    old_chunks = library.registry.ready_chunk_ids(before.id)
    paragraphs[5] = "Paragraph 5 now speaks of sprockets instead."
    write(folder, "long.md", "\n\n".join(paragraphs))
    report = library.sources.sync("docs")
    assert (report.updated, report.added, report.removed, report.unchanged) == (1, 0, 0, 3)
    after = library.find("docs/long.md")
    assert after.id != before.id and library.registry.document(before.id) is None
    new_chunks = library.registry.ready_chunk_ids(after.id)
    assert len(new_chunks - old_chunks) == 1 and len(old_chunks - new_chunks) == 1
    in_line(library, folder, [*FILES, "long.md"])
    assert library.search("sprockets", k=1).hits[0].doc_name == "docs/long.md"


def test_a_deleted_file_leaves_every_index(library: Library, folder: Path):
    library.sources.add(folder, roots=None)
    library.sources.sync("docs")
    gone = library.find("docs/notes/pears.txt")
    (folder / "notes/pears.txt").unlink()
    report = library.sources.sync("docs")
    assert (report.removed, report.seen) == (1, 2)
    assert library.registry.document(gone.id) is None
    in_line(library, folder, ["apples.md", "engine.pdf"])
    assert all(h.doc_name != "docs/notes/pears.txt" for h in library.search("pear frost").hits)


def test_a_renamed_file_keeps_its_document_under_the_new_name(library: Library, folder: Path):
    library.sources.add(folder, roots=None)
    library.sources.sync("docs")
    before = library.find("docs/engine.pdf")
    os.rename(folder / "engine.pdf", folder / "notes/engine-manual.pdf")
    report = library.sources.sync("docs")
    assert (report.renamed, report.added, report.removed) == (1, 0, 0)
    after = library.find("docs/notes/engine-manual.pdf")
    assert after.id == before.id and after.pages == before.pages
    assert library.page_image(after.id, 0) is not None  # its page images stay
    in_line(library, folder, ["apples.md", "notes/engine-manual.pdf", "notes/pears.txt"])
    assert library.search("engine oil", k=1).hits[0].doc_name == "docs/notes/engine-manual.pdf"


def test_moving_a_file_into_an_excluded_folder_removes_its_document(library: Library, folder: Path):
    library.sources.add(folder, roots=None, exclude=["drafts"])
    library.sources.sync("docs")
    (folder / "drafts").mkdir()
    os.rename(folder / "apples.md", folder / "drafts/apples.md")
    report = library.sources.sync("docs")
    assert (report.removed, report.seen) == (1, 2)
    in_line(library, folder, ["engine.pdf", "notes/pears.txt"])


def test_a_file_still_being_written_waits_for_the_next_sync(
    tmp_path: Path, folder: Path, embedder: HashingEmbedder
):
    settings = Settings(data_dir=tmp_path / "data", db=tmp_path / "f.db", source_settle_seconds=30)
    library = Library.open(settings, embedder=embedder)
    library.sources.add(folder, roots=None)
    library.sources.sync("docs")
    half = folder / "report.md"
    half.write_text("# Report\n\nThe first half of the rep", encoding="utf-8")  # modified now
    report = library.sources.sync("docs")
    assert report.waiting == ("report.md",) and report.added == 0
    assert "docs/report.md" not in names(library)
    half.write_text("# Report\n\nThe first half of the report, and the second.", encoding="utf-8")
    os.utime(half, (OLD, OLD))  # the writer is done: a minute later, nothing moves any more
    report = library.sources.sync("docs")
    assert (report.waiting, report.added) == ((), 1)
    assert "second" in library.search("second half report", k=1).hits[0].chunk.text


def test_a_file_that_moves_while_it_is_read_waits(tmp_path: Path):
    path = write(tmp_path, "growing.md", "some text")
    seen = Stamp.of(path.stat())
    with path.open("a") as f:  # the writer appends after the scan looked
        f.write(" and more")
    assert read_content(path, seen, settle=0, max_bytes=1 << 20, now=time.time()) is None
    settled = Stamp.of(path.stat())
    found = read_content(path, settled, settle=0, max_bytes=1 << 20, now=time.time())
    assert found is not None and not isinstance(found, Unreadable)
    assert found.hash == content_id(path)


def test_failing_files_are_reported_by_name_and_retried_only_once_changed(
    tmp_path: Path, folder: Path, embedder: HashingEmbedder, monkeypatch: pytest.MonkeyPatch
):
    settings = Settings(
        data_dir=tmp_path / "data",
        db=tmp_path / "f.db",
        source_settle_seconds=0,
        max_upload_mb=0.01,
    )
    library = Library.open(settings, embedder=embedder)
    write(folder, "broken.pdf", corrupt(make_pdf(["A page that will not parse."])))
    write(folder, "secret.pdf", make_pdf(["Locked away."], user_password="pw"))
    write(folder, "huge.md", "word " * 4000)  # 20 KB, over the 10 KB limit
    write(folder, "empty.txt", "")
    library.sources.add(folder, roots=None)
    report = library.sources.sync("docs")
    reasons = {f.path: f.reason for f in report.failed}
    assert sorted(reasons) == ["broken.pdf", "empty.txt", "huge.md", "secret.pdf"]
    assert "password" in reasons["secret.pdf"]
    assert "over the upload limit of 0.01 MB" in reasons["huge.md"]
    assert reasons["empty.txt"] == "the file is empty (0 bytes)"
    assert report.added == 3 and library.sources.status("docs").failures == report.failed
    assert sorted(names(library)) == [f"docs/{f}" for f in FILES]  # no failed rows left behind
    # Nothing changed: the failing files are not tried again.
    tried: list[list[str]] = []
    add = library.add
    monkeypatch.setattr(
        library,
        "add",
        lambda files, **kw: tried.append([f.name for f in files]) or add(files, **kw),
    )
    assert library.sources.sync("docs").failed == report.failed and tried == []
    write(folder, "broken.pdf", make_pdf(["The page parses now."]))
    report = library.sources.sync("docs")
    assert tried == [["docs/broken.pdf"]] and report.updated + report.added == 1
    assert sorted(f.path for f in report.failed) == ["empty.txt", "huge.md", "secret.pdf"]
    assert library.find("docs/broken.pdf").status == "ready"


def test_a_file_that_breaks_keeps_its_last_good_version(library: Library, folder: Path):
    library.sources.add(folder, roots=None)
    library.sources.sync("docs")
    good = library.find("docs/engine.pdf")
    write(folder, "engine.pdf", corrupt(make_pdf(["Engine Manual, second edition."])))
    report = library.sources.sync("docs")
    assert [f.path for f in report.failed] == ["engine.pdf"] and report.updated == 0
    assert library.find("docs/engine.pdf").id == good.id  # still searchable as it was
    (folder / "engine.pdf").unlink()
    assert library.sources.sync("docs").removed == 1
    assert "docs/engine.pdf" not in names(library)


def test_an_unreadable_file_fails_with_its_reason(tmp_path: Path):
    path = write(tmp_path, "private.md", "nobody may read this")
    path.chmod(0)
    stamp = Stamp.of(path.stat())
    if os.geteuid() != 0:
        found = read_content(path, stamp, settle=0, max_bytes=1 << 20, now=time.time())
    else:  # root reads every file: read as nobody in a child process
        read, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.setgid(65534)
            os.setuid(65534)
            got = read_content(path, stamp, settle=0, max_bytes=1 << 20, now=time.time())
            os.write(write_end, repr(got).encode())
            os._exit(0)
        os.close(write_end)
        os.waitpid(pid, 0)
        found = eval(os.read(read, 4096).decode(), {"Unreadable": Unreadable})
    assert found == Unreadable("cannot be read (Permission denied)")


def test_a_folder_that_disappears_pauses_the_source_and_removes_nothing(
    library: Library, folder: Path, tmp_path: Path
):
    library.sources.add(folder, roots=None)
    library.sources.sync("docs")
    shutil.move(folder, tmp_path / "elsewhere")  # the drive is unmounted
    report = library.sources.sync("docs")
    assert "is missing" in report.error and "nothing was removed" in report.error
    status = library.sources.status("docs")
    assert (status.source.paused, status.files) == ("missing", 3)
    assert sorted(names(library)) == [f"docs/{f}" for f in FILES]
    with pytest.raises(InputError, match="paused"):
        library.sources.sync("docs")
    shutil.move(tmp_path / "elsewhere", folder)
    library.sources.resume("docs")
    assert library.sources.sync("docs").unchanged == 3
    in_line(library, folder, FILES)


def test_an_emptied_folder_pauses_until_its_user_resumes_it(library: Library, folder: Path):
    library.sources.add(folder, roots=None)
    library.sources.sync("docs")
    for child in folder.iterdir():  # a mount point without its drive is an empty folder
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    report = library.sources.sync("docs")
    assert "is empty" in report.error and library.sources.status("docs").source.paused == "empty"
    assert len(names(library)) == 3
    library.sources.resume("docs")  # it is meant to be empty
    assert library.sources.sync("docs").removed == 3
    assert names(library) == {} and library.sources.status("docs").files == 0


def test_links_out_of_the_folder_are_not_followed(library: Library, folder: Path, tmp_path: Path):
    outside = tmp_path / "outside"
    write(outside, "secret.md", "Outside the folder: must not be read.")
    (folder / "secret.md").symlink_to(outside / "secret.md")
    (folder / "elsewhere").symlink_to(outside, target_is_directory=True)
    (folder / "apples-again.md").symlink_to(folder / "apples.md")  # inside: followed
    (folder / "loop").symlink_to(folder, target_is_directory=True)  # inside, a loop
    library.sources.add(folder, roots=None)
    report = library.sources.sync("docs")
    assert sorted((s.path, s.reason) for s in report.skipped) == [
        ("elsewhere", "a link out of the folder: not followed"),
        ("secret.md", "a link out of the folder: not followed"),
    ]
    # The link inside the folder is the same bytes as apples.md: one document, named after
    # the first of the two paths.
    assert sorted(names(library)) == [
        "docs/apples-again.md",
        "docs/engine.pdf",
        "docs/notes/pears.txt",
    ]
    assert not library.search("outside folder must").hits or all(
        "Outside" not in h.chunk.text for h in library.search("outside folder must").hits
    )


def test_two_files_with_the_same_bytes_share_a_document(library: Library, folder: Path):
    write(folder, "copy/apples.md", (folder / "apples.md").read_text())
    library.sources.add(folder, roots=None)
    library.sources.sync("docs")
    assert "docs/copy/apples.md" not in names(library)  # one document for both files
    (folder / "apples.md").unlink()  # the one it is named after goes: the copy keeps it
    report = library.sources.sync("docs")
    assert report.renamed == 0 and report.removed == 1
    assert library.find("docs/copy/apples.md").id == content_id(folder / "copy/apples.md")
    in_line(library, folder, ["copy/apples.md", "engine.pdf", "notes/pears.txt"])


def test_an_upload_with_the_same_bytes_is_never_touched(library: Library, folder: Path):
    library.add([("my-apples.md", (folder / "apples.md").read_bytes())])
    library.sources.add(folder, roots=None)
    library.sources.sync("docs")
    assert names(library)["my-apples.md"] == "ready" and "docs/apples.md" not in names(library)
    (folder / "apples.md").unlink()
    library.sources.sync("docs")
    assert names(library)["my-apples.md"] == "ready"


def test_removing_a_source_keeps_or_removes_its_documents(
    library: Library, folder: Path, tmp_path: Path
):
    other = tmp_path / "other"
    write(other, "b.md", "Bananas ripen in the dark.")
    library.sources.add(folder, roots=None)
    library.sources.add(other, roots=None)
    library.sources.sync("docs")
    library.sources.sync("other")
    assert library.sources.remove("other", keep_documents=True) == 0
    assert "other/b.md" in names(library)
    with pytest.raises(InputError, match="earlier source named other"):
        library.sources.add(other, roots=None, name="other")
    assert library.sources.add(other, roots=None).name == "other-2"  # a name of its own
    assert library.sources.remove("docs", keep_documents=False) == 3
    assert sorted(names(library)) == ["other/b.md"]
    assert [s.name for s in library.sources.statuses()] == ["other-2"]
    assert_consistent(library)


def test_adding_a_source_checks_its_folder_name_and_patterns(
    library: Library, folder: Path, tmp_path: Path, settings: Settings
):
    library.sources.add(folder, roots=None)
    library.sources.add(write(tmp_path, "box/inner/a.md", "a").parent, roots=None)
    cases = [
        ({"folder": tmp_path / "nope"}, "is not a folder"),
        ({"folder": folder / "notes"}, "overlaps source 'docs'"),
        ({"folder": tmp_path / "box"}, "overlaps source 'inner'"),
        ({"folder": settings.data_dir}, "Folio's data folder"),
        ({"folder": write(tmp_path, "x/a.md", "a").parent, "name": "Bad Name"}, "lowercase"),
        ({"folder": tmp_path / "x", "every": -1}, "every: is -1"),
        ({"folder": tmp_path / "x", "exclude": ["/etc/*"]}, "exclude: '/etc/\\*'"),
        ({"folder": "relative/x", "roots": [tmp_path]}, "not an absolute path"),
        ({"folder": tmp_path / "x", "roots": [folder]}, "not inside a folder FOLIO_SOURCE_ROOTS"),
        ({"folder": tmp_path / "x", "roots": []}, "FOLIO_SOURCE_ROOTS"),
        # found by the API fuzzer: a home folder of no user, a name longer than the system's
        ({"folder": "~no-such-user-folio/x"}, "cannot be read as a path"),
        ({"folder": tmp_path / ("a" * 5000)}, "cannot be read as a path|is not a folder"),
    ]
    for given, message in cases:
        arguments = {"roots": None, **given}
        with pytest.raises(InputError, match=message):
            library.sources.add(arguments.pop("folder"), **arguments)
    added = library.sources.add(tmp_path / "x", roots=[tmp_path], every=0, include=["*.md"])
    assert (added.name, added.source.every, added.source.include) == ("x", 0, ("*.md",))


def test_where_the_web_app_and_the_api_may_add_folders(tmp_path: Path):
    assert Settings().source_root_folders is None  # local: anywhere
    assert Settings(host="0.0.0.0").source_root_folders == ()
    assert Settings(login="on").source_root_folders == ()
    roots = Settings(host="0.0.0.0", source_roots=f"{tmp_path}/a:{tmp_path}/b")
    assert roots.source_root_folders == (tmp_path / "a", tmp_path / "b")


def test_sources_belong_to_one_workspace(settings: Settings, folder: Path):
    embedder = HashingEmbedder()
    team_a = Library.open(settings, workspace="team-a", embedder=embedder)
    team_b = Library.open(settings, workspace="team-b", embedder=embedder)
    team_a.sources.add(folder, roots=None)
    team_a.sources.sync("docs")
    assert team_b.sources.statuses() == [] and team_b.documents() == []
    team_b.sources.add(folder, roots=None, name="same-folder")  # another workspace may
    team_b.sources.sync("same-folder")
    (folder / "apples.md").unlink()
    team_a.sources.sync("docs")
    assert "same-folder/apples.md" in names(team_b) and "docs/apples.md" not in names(team_a)


def test_a_read_replica_lists_sources_and_never_syncs(
    settings: Settings, library: Library, folder: Path
):
    library.sources.add(folder, roots=None)
    replica = Library.open(
        settings.model_copy(update={"ingest_writer": False}), embedder=HashingEmbedder()
    )
    assert [s.name for s in replica.sources.statuses()] == ["docs"]
    for action in (
        lambda: replica.sources.sync("docs"),
        lambda: replica.sources.add(folder, roots=None),
        lambda: replica.sources.remove("docs", keep_documents=True),
    ):
        with pytest.raises(ConfigurationError, match="only reads"):
            action()
    replica.start_background()
    assert not replica.sources.scheduler.running and replica.documents() == []


def test_the_background_syncs_each_source_on_its_schedule(library: Library, folder: Path):
    library.sources.add(folder, roots=None, every=1)
    library.start_background()
    deadline = time.monotonic() + 60
    while len(names(library)) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(names(library)) == [f"docs/{f}" for f in FILES]
    write(folder, "new.md", "A new file appears, about quinces.")
    # The document is listed (indexing) before it is ready: wait for its final state.
    while names(library).get("docs/new.md") in (None, "indexing") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert names(library)["docs/new.md"] == "ready"


def test_a_manual_source_syncs_only_when_asked(library: Library, folder: Path):
    library.sources.add(folder, roots=None, every=0)
    library.start_background()
    time.sleep(1.5)  # the scheduler has looked at it, and left it
    assert names(library) == {}
    library.sources.request_sync("docs")
    deadline = time.monotonic() + 60
    while len(names(library)) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(names(library)) == 3


def test_each_sync_is_a_json_log_line(
    library: Library, folder: Path, caplog: pytest.LogCaptureFixture
):
    library.sources.add(folder, roots=None)
    with caplog.at_level(logging.INFO, logger="folio.sources"):
        library.sources.sync("docs")
    [record] = [r for r in caplog.records if hasattr(r, "sync")]
    line = json.loads(JsonFormatter().format(record))
    assert (line["logger"], line["workspace"], line["source"]) == (
        "folio.sources",
        "default",
        "docs",
    )
    assert {k: line["sync"][k] for k in ("seen", "added", "failed", "error")} == {
        "seen": 3,
        "added": 3,
        "failed": 0,
        "error": "",
    }


# The pure parts ----------------------------------------------------------------------------
def test_patterns_match_names_anywhere_and_paths_from_the_top():
    assert matches("a/b/Report.PDF", "*.pdf") and matches("report.pdf", "*.pdf")
    assert matches("drafts/x/y.md", "drafts/*") and not matches("old/drafts/y.md", "drafts/*")
    assert matches("docs/a.md", "docs/**/*.md") and matches("docs/x/a.md", "docs/**/*.md")
    rules = Rules(exclude=("drafts",))
    assert rules.wants("a.md") and not rules.wants("a.csv") and not rules.wants(".a.md")
    assert rules.leaves_out("drafts") and not rules.wants("~$report.docx")


def test_scan_sees_only_what_counts(folder: Path):
    scan = scan_folder(folder, Rules())
    assert sorted(scan.files) == FILES and not scan.empty
    assert scan.files["apples.md"].size == (folder / "apples.md").stat().st_size


def doc(doc_id: str, name: str, status: str = "ready") -> Document:
    from datetime import UTC, datetime

    return Document(doc_id, name, "text", 1, 1, 1, 0, status, None, datetime.now(UTC))


def test_plan_renames_replaces_and_protects_shared_documents():
    docs = [doc("h1", "s/a.md"), doc("h2", "s/b.md"), doc("up", "upload.md")]
    # a.md renamed to c.md; b.md changed to h3 while copy.md still holds h2; u.md = an upload
    mine = [
        Claim("s/c.md", "h1", None),
        Claim("s/b.md", "h3", "h2"),
        Claim("s/copy.md", "h2", None),
        Claim("s/u.md", "up", None),
    ]
    result = plan(mine, [], docs)
    assert result.ingest == ("s/b.md",)
    assert dict(result.renames) == {"h1": "s/c.md", "h2": "s/copy.md"}
    # another source's file holding h1 under its name keeps it: this one shares it
    assert plan([Claim("s/c.md", "h1", None)], [Claim("s/a.md", "h1", "h1")], docs).renames == ()


def test_orphans_are_the_sources_documents_no_file_wants():
    docs = [doc("h1", "s/a.md"), doc("h2", "s/b.md", "failed"), doc("h3", "t/c.md")]
    docs.append(doc("h4", "s/d.md", "indexing"))
    assert orphans("s", [Claim("s/a.md", None, "h1")], docs) == ["h2"]
    assert orphans("s", [], docs) == ["h1", "h2"]


# kill -9 in the middle of a sync --------------------------------------------------------
def crash_sync(data: Path, folder: Path, stage: str, fraction: float) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_sync", str(data), str(folder), stage, str(fraction)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip() if proc.stdout else ""
        assert line == "BLOCKED", f"the sync did not reach {stage}: {line!r}"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def many_files(folder: Path, count: int, start: int = 0) -> list[str]:
    paths = []
    for i in range(start, start + count):
        path = f"part{i % 3}/note{i}.md"
        write(folder, path, f"# Note {i}\n\nNote {i} is about widget{i} and gadget{i}.")
        paths.append(path)
    return paths


@pytest.mark.slow
@pytest.mark.parametrize(("stage", "fraction"), [("embed", 0.3), ("done", 0.5)])
def test_a_first_sync_killed_midway_resumes_cleanly(tmp_path: Path, stage: str, fraction: float):
    folder, data = tmp_path / "docs", tmp_path / "data"
    files = many_files(folder, 12)
    crash_sync(data, folder, stage, fraction)
    half = Library.open(crash_settings(data), embedder=HashingEmbedder(), recover=False)
    states = list(names(half).values())
    rows = half.sources.store.files("docs")
    # Killed in the middle: documents still indexing, or ready ones the rows do not know yet.
    assert len(rows) == len(files) and states
    assert states.count("ready") < len(files) or all(r.doc_id is None for r in rows.values())
    library = Library.open(crash_settings(data), embedder=HashingEmbedder())  # repairs first
    report = library.sources.sync("docs")
    assert report.failed == () and report.error == ""
    in_line(library, folder, files)
    assert library.sources.sync("docs").unchanged == 12


@pytest.mark.slow
def test_a_sync_of_every_kind_of_change_killed_midway_resumes_cleanly(tmp_path: Path):
    folder, data = tmp_path / "docs", tmp_path / "data"
    files = many_files(folder, 9)
    library = Library.open(crash_settings(data), embedder=HashingEmbedder())
    library.sources.add(folder, roots=None, name="docs")
    library.sources.sync("docs")
    # Deleted, renamed, changed and new files, all in one sync that dies while ingesting.
    deleted = files[0]
    (folder / deleted).unlink()
    os.rename(folder / files[1], folder / "moved.md")
    write(folder, files[2], "# Note 2\n\nNote 2 now covers sprockets.")
    files = [f for f in files[2:]] + ["moved.md"] + many_files(folder, 6, start=100)
    crash_sync(data, folder, "done", 0.5)
    library = Library.open(crash_settings(data), embedder=HashingEmbedder())
    assert "docs/moved.md" in names(library)  # the rename came before the ingest that died
    assert f"docs/{deleted}" in names(library)  # killed before the removals
    library.sources.sync("docs")
    in_line(library, folder, files)
    assert library.search("sprockets", k=1).hits[0].doc_name == f"docs/{files[0]}"


def crash_settings(data: Path) -> Settings:
    from .crash_sync import settings_for

    return settings_for(data)


# The command line ----------------------------------------------------------------------------
class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.slow
def test_cli_source_add_sync_list_pause_remove(
    tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FOLIO_DATA_DIR", str(tmp_path / "lib"))
    monkeypatch.setenv("FOLIO_SOURCE_SETTLE_SECONDS", "0")
    monkeypatch.setenv("FOLIO_EMBED_BACKEND", "torch")
    write(folder, "broken.pdf", b"%PDF-1.4 and nothing else")

    def run(*args: str, stdin: io.StringIO | None = None) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", stdin)
        code = main(list(args), out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    code, out, _ = run("source", "add", str(folder), "--every", "0", "--exclude", "notes/*")
    assert code == 0 and out.startswith(f"added docs  {folder}  on, manual; 0 files")
    code, out, _ = run("source", "sync", "docs")
    lines = out.splitlines()
    assert code == 1  # a file failed; the others went in
    assert lines[0].startswith("docs: 3 files: 2 added, 0 updated, 0 renamed, 0 removed")
    assert lines[1].startswith("  failed   broken.pdf: ")
    code, out, _ = run("list")
    assert sorted(line.split()[2] for line in out.splitlines()) == [
        "docs/apples.md",
        "docs/engine.pdf",
    ]
    code, out, _ = run("source", "pause", "docs")
    assert code == 0 and "paused (user)" in out
    code, _, err = run("source", "sync")  # every source not paused: none
    assert (code, err) == (0, "")
    code, _, err = run("source", "sync", "docs")
    assert code == 1 and err == "error: name: source docs is paused: paused; resume it first\n"
    assert run("source", "resume", "docs")[0] == 0
    code, out, _ = run("source", "list")
    assert "docs  " in out and "on, manual; 3 files, 1 failing; last sync 20" in out

    code, _, err = run("source", "remove", "docs", stdin=io.StringIO("k\n"))  # not a terminal
    assert code == 1 and "say --keep-documents or --remove-documents" in err
    code, out, _ = run("source", "remove", "docs", stdin=Terminal("maybe\nr\n"))
    assert code == 0 and out.count("Keep their documents in the library?") == 2
    assert out.endswith("removed source docs and 2 documents\n")
    assert run("list")[1] == "" and run("source", "list")[1] == ""
