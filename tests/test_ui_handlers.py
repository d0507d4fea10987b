"""The UI's handlers without a browser: real library, real feedback.db, real Claude fake."""

from __future__ import annotations

import csv
import itertools
import logging
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote

import gradio as gr
import gradio.utils
import pytest

from rag_core.answer.claude import ClaudeAnswerer
from rag_core.answer.conversation import ClaudeRewriter, Rewrite, RuleRewriter
from rag_core.feedback.store import FeedbackStore
from rag_core.library import Library
from ui import analytics, chat, documents

from .fake_anthropic import FakeAnthropic
from .fakes import HashingEmbedder
from .pdfs import corrupt, make_pdf
from .test_library import APPLES, ENGINES

REPO = Path(__file__).resolve().parents[1]
SKIP = gr.skip()


@pytest.fixture
def filled(library: Library) -> Library:
    library.add([("orchard.pdf", make_pdf(APPLES)), ("engine.pdf", make_pdf(ENGINES))])
    return library


@pytest.fixture
def feedback(settings) -> FeedbackStore:
    return FeedbackStore.open(settings.feedback_url)


def ask(library, state, question, rewriter=None, doc_ids=None, lang="en"):
    """Run the chat handler to the end; returns every update and the final state."""
    updates = list(
        chat.respond(library, rewriter or RuleRewriter(), state, question, doc_ids, lang)
    )
    return updates, updates[-1][1]


def served_files(html: str) -> list[Path]:
    """The files the ``gradio_api/file=`` URLs in ``html`` point at."""
    return [Path(unquote(m)) for m in re.findall(r'src="gradio_api/file=([^"]+)"', html)]


def bot(update) -> str:
    return update[0][-1]["content"] if update[0][-1]["role"] == "assistant" else ""


def test_answer_streams_then_fills_sources_pages_and_trace(filled: Library):
    updates, _ = ask(filled, chat.ChatState(), "Why did pear output fall?")
    first = updates[0]
    assert first[0] == [{"role": "user", "content": "Why did pear output fall?"}]
    assert first[2] == "" and first[3:] == (SKIP, SKIP, SKIP, SKIP)  # box cleared at once
    streamed = [bot(u) for u in updates[1:-1]]
    assert streamed and streamed[0] == "From your documents:\n\n"  # the first token, alone
    assert all(u[3] == SKIP for u in updates[1:-1])

    messages, final_state, _, sources, gallery, trace, notices = updates[-1]
    [turn] = final_state.turns
    answer = turn.answer
    assert answer is not None and not answer.refused and answer.citations
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert f"[[1]](#cite-{turn.message_id}-1 " in messages[1]["content"]
    citation = answer.citations[0]
    assert citation.page_number == 3
    assert f'id="cite-{turn.message_id}-1"' in sources and "orchard.pdf" in sources
    assert f"<mark>{citation.cited_text}</mark>" in sources and "page 3" in sources
    thumb = filled.page_image(citation.doc_id, citation.page, thumbnail=True)
    served = served_files(sources)  # copies in Gradio's cache, never the data folder's paths
    assert served[0].read_bytes() == thumb.read_bytes() and str(filled.images.root) not in sources
    assert all(p.is_relative_to(gradio.utils.get_upload_folder()) for p in served)
    page, caption = gallery[0]  # the gallery too shows cache copies
    assert caption == "orchard.pdf · page 3"
    assert Path(page).read_bytes() == filled.page_image(citation.doc_id, 2).read_bytes()
    assert all(Path(path).is_relative_to(gradio.utils.get_upload_folder()) for path, _ in gallery)
    assert "`Why did pear output fall?` (as asked)" in trace
    assert notices.startswith("**Extractive answers.**")
    assert [t.stage for t in turn.timings] == ["ui.rewrite", "ui.first_token", "ui.total"]


def test_follow_up_is_searched_with_the_conversation(filled: Library):
    _, state = ask(filled, chat.ChatState(), "How many pickers did the orchard hire?")
    updates, state = ask(filled, state, "What grade of oil should the engine use?")
    assert state.turns[1].rewrite.method == "none"
    _, state = ask(filled, state, "Why did pear output fall?")
    updates, state = ask(filled, state, "What about in April?")
    turn = state.turns[-1]
    assert turn.rewrite == Rewrite("What about in April? pear output fall", "rule")
    assert turn.answer.trace.searched_query == "What about in April? pear output fall"
    assert "(rewritten from the conversation (rule))" in updates[-1][5]
    assert [m["role"] for m in updates[-1][0]] == ["user", "assistant"] * 4


def test_claude_rewrites_follow_ups_and_answers(settings):
    with FakeAnthropic() as fake:
        library = Library.open(
            settings,
            embedder=HashingEmbedder(),
            answerer=ClaudeAnswerer("k", model="claude-test", base_url=fake.url),
        )
        library.add([("orchard.pdf", make_pdf(APPLES))])
        rewriter = ClaudeRewriter("k", model="claude-rewrite", base_url=fake.url)
        _, state = ask(library, chat.ChatState(), "How much did the apple harvest rise in 2020?")
        updates, state = ask(library, state, "What about 2020 pickers?", rewriter)
        turn = state.turns[-1]
        assert turn.rewrite.method == "claude"
        assert turn.rewrite.query == "How much did the apple harvest rise in 2020?"
        assert turn.answer.mode == "claude" and turn.answer.citations
        assert "rewritten from the conversation by Claude" in updates[-1][5]
        notices = updates[-1][6]  # no extractive notice with Claude; the vision model is absent
        assert notices.startswith("**Page images:** Vision index off: model ")
        assert "Extractive" not in notices and "\n\n" not in notices


def test_document_filter_and_refusal_say_what_was_searched(filled: Library):
    engine = filled.find("engine.pdf")
    _, state = ask(filled, chat.ChatState(), "Why did pear output fall?", doc_ids=[engine.id])
    answer = state.turns[0].answer
    assert answer.refused and answer.trace.filters.doc_ids == (engine.id,)
    assert answer.text == (
        "Not found in your documents. I searched 1 selected document for "
        "“Why did pear output fall?” and found nothing that answers it."
    )
    assert all(h.chunk.doc_id == engine.id for h in answer.hits)


def test_chinese_question_gets_a_chinese_interface_and_answer(filled: Library):
    updates, state = ask(filled, chat.ChatState(), "梨的产量为什么下降？", lang="zh")
    assert state.turns[0].answer.text.startswith("在您的文档中未找到答案")
    assert "本问题**未使用语义（向量）检索**" in updates[-1][6]
    assert "摘录式回答" in updates[-1][6] and "出处：梨的产量为什么下降？" in updates[-1][3]


def test_empty_question_only_warns(filled: Library):
    with pytest.warns(UserWarning, match="Type a question first"):
        updates, _ = ask(filled, chat.ChatState(), "   ")
    assert updates == [(SKIP,) * 7]


def test_core_errors_become_clear_messages_in_the_page(settings):
    with FakeAnthropic() as fake:
        library = Library.open(
            settings,
            embedder=HashingEmbedder(),
            answerer=ClaudeAnswerer("k", model="claude-test", base_url=fake.url),
        )
        library.add([("orchard.pdf", make_pdf(APPLES))])
        fake.fail_with = (401, "authentication_error")
        generator = chat.respond(
            library, RuleRewriter(), chat.ChatState(), "apple harvest?", None, "en"
        )
        updates = []
        with pytest.raises(gr.Error) as raised:
            for update in generator:
                updates.append(update)
    assert raised.value.message.startswith("Claude could not answer (AuthenticationError")
    assert bot(updates[-1]) == "⚠ " + raised.value.message  # the bubble says it too
    assert updates[-1][1].turns[0].error and updates[-1][1].turns[0].answer is None


def test_unexpected_errors_show_an_id_not_a_stack_trace(filled: Library, caplog):
    class Broken(RuleRewriter):
        def rewrite(self, question, history):
            raise KeyError("internal detail")

    with pytest.raises(gr.Error) as raised:
        list(chat.respond(filled, Broken(), chat.ChatState(), "pears?", None, "en"))
    message = raised.value.message
    assert message.startswith("Something went wrong (error ") and "internal" not in message
    error_id = message.split("error ")[1][:8]
    assert error_id in caplog.text and "internal detail" in caplog.text


def test_an_answer_logs_the_request_id_its_rating_stores(
    filled: Library, feedback: FeedbackStore, caplog
):
    with caplog.at_level(logging.INFO, logger="folio.ui"):
        _, state = ask(filled, chat.ChatState(), "Why did pear output fall?")
    (line,) = [r for r in caplog.records if r.name == "folio.ui"]
    turn = state.turns[0]
    assert line.request_id == f"ui-{turn.message_id}" and line.workspace == "default"
    assert line.route == "ui/chat" and line.ms > 0
    chat.rate(feedback, state, 1, False, "sess", "en")
    assert feedback.get("sess", turn.message_id).request_id == line.request_id


def test_thumbs_store_the_trace_and_a_changed_vote_updates_it(
    filled: Library, feedback: FeedbackStore, settings
):
    _, state = ask(filled, chat.ChatState(), "Why did pear output fall?")
    _, state = ask(filled, state, "How often should the engine oil be changed?")
    state, row, box = chat.rate(feedback, state, 3, True, "sess", "en")
    assert state.comment_for == state.turns[1].message_id and row["visible"] is True
    assert box == ""
    state, _, _ = chat.rate(feedback, state, 3, False, "sess", "en")
    assert chat.send_comment(feedback, state, "wrong interval", "sess", "en")[1] == ""
    chat.rate(feedback, state, 1, True, "sess", "en")
    with sqlite3.connect(settings.db) as db:
        rows = db.execute(
            "SELECT session_id, message_id, vote, comment, question, searched_query, mode, "
            "refused FROM feedback ORDER BY id"
        ).fetchall()
    assert rows == [
        (
            "sess",
            state.turns[1].message_id,
            -1,
            "wrong interval",
            "How often should the engine oil be changed?",
            "How often should the engine oil be changed?",
            "extractive",
            0,
        ),
        (
            "sess",
            state.turns[0].message_id,
            1,
            "",
            "Why did pear output fall?",
            "Why did pear output fall?",
            "extractive",
            0,
        ),
    ]
    record = feedback.get("sess", state.turns[1].message_id)
    assert record.citations == state.turns[1].answer.citations
    assert [h.chunk_id for h in record.hits] == [h.chunk.id for h in state.turns[1].answer.hits]
    assert record.timing("ui.total") == round(state.turns[1].timings[-1].ms, 3)

    state, row, _ = chat.rate(feedback, state, 3, "", "sess", "en")  # vote taken back
    assert row["visible"] is False and feedback.get("sess", state.turns[1].message_id) is None
    with pytest.warns(UserWarning, match="no answer to rate"):
        chat.rate(feedback, state, 2, True, "sess", "en")  # a question, not an answer
    assert len(feedback.records()) == 1


def test_selecting_an_earlier_answer_shows_its_sources(filled: Library):
    _, state = ask(filled, chat.ChatState(), "Why did pear output fall?")
    _, state = ask(filled, state, "How often should the engine oil be changed?")
    sources, gallery, trace = chat.show_turn(filled, state, 1, "en")
    assert "Sources for: Why did pear output fall?" in sources and "orchard.pdf" in sources
    assert gallery[0][1] == "orchard.pdf · page 3" and "`Why did pear output fall?`" in trace
    assert chat.show_turn(filled, state, 0, "en") == (SKIP, SKIP, SKIP)


# Library tab -----------------------------------------------------------------------------
def test_upload_reports_progress_per_file_and_stage(library: Library, upload_folder: Path):
    paths = []
    for name, data in [
        ("orchard.pdf", make_pdf(APPLES)),
        ("broken.pdf", corrupt(make_pdf(ENGINES))),
        ("notes.md", b"# Notes\n\nThe warehouse stores pears."),
    ]:
        (upload_folder / name).write_bytes(data)
        paths.append(str(upload_folder / name))
    seen: list[tuple[float, str]] = []
    with pytest.warns(UserWarning, match="1 of 3 files could not be added"):
        summary, view = documents.upload(library, paths, "en", lambda f, d: seen.append((f, d)))
    fractions = [f for f, _ in seen]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(fractions))  # only moves forward
    assert fractions[-1] == pytest.approx(1.0)
    descriptions = [d for _, d in seen]
    for expected in (
        "orchard.pdf (1/3): extracting text",
        "orchard.pdf (1/3): rendering pages",
        "orchard.pdf (1/3): embedding",
        "orchard.pdf (1/3): indexing",
        "broken.pdf (2/3): extracting text",
        "notes.md (3/3): embedding",
        "notes.md (3/3): done",
    ):
        assert expected in descriptions
    assert summary.split("  \n")[0] == "✓ orchard.pdf: added \\(3 pages, 2 chunks\\)"
    table = view.table.values.tolist()
    assert [(r[0], r[5]) for r in table] == [
        ("orchard.pdf", "ready"),
        ("broken.pdf", "failed"),
        ("notes.md", "ready"),
    ]
    assert table[1][6].startswith("is not a readable PDF")
    assert [label for label, _ in view.ready_choices] == ["orchard.pdf", "notes.md"]

    again, _ = documents.upload(library, paths[:1], "en", lambda f, d: None)
    assert again == "＝ orchard.pdf: already in the library"


def test_delete_and_reindex_need_a_selection_and_confirm(filled: Library):
    engine = filled.find("engine.pdf")
    row, text, action = documents.ask_to_confirm(filled, "delete", engine.id, "en")
    assert row["visible"] and action == "delete" and text.startswith("Delete **engine.pdf**?")
    message, view = documents.run_action(filled, "reindex", engine.id, "en")
    assert message == "engine.pdf was indexed again."
    message, view = documents.run_action(filled, "delete", engine.id, "en")
    assert message == "engine.pdf was deleted." and "engine.pdf" not in view.table.values[:, 0]
    with pytest.warns(UserWarning, match="Select a document first"):
        documents.ask_to_confirm(filled, "delete", None, "en")
    with pytest.raises(gr.Error, match="No document with id"):
        documents.run_action(filled, "delete", engine.id, "en")
    assert (
        documents.selected_row(("a", "b"), 1) == "b" and documents.selected_row(("a",), 5) is None
    )


# Analytics tab ---------------------------------------------------------------------------
def test_analytics_tab_counts_the_rows(filled: Library, feedback: FeedbackStore, tmp_path):
    _, state = ask(filled, chat.ChatState(), "Why did pear output fall?")
    _, state = ask(filled, state, "quantum chromodynamics lattice")
    _, state = ask(filled, state, "How often should the engine oil be changed?")
    chat.rate(feedback, state, 1, False, "s", "en")
    chat.rate(feedback, state, 3, False, "s", "en")
    chat.rate(feedback, state, 5, True, "s", "en")
    view = analytics.analytics_view(feedback.records(), "en")
    assert view.summary == (
        "**3** rated answers · **1** liked · **2** disliked · satisfaction **33%**"
    )
    assert view.causes.values.tolist() == [
        ["No evidence found", 1, "50%"],
        ["Evidence found but not cited", 0, "0%"],
        ["Cited but wrong", 1, "50%"],
    ]
    assert view.by_mode.values.tolist() == [["extractive", 1, 2, 3, "33%"]]
    assert view.by_day["rated"].tolist() == [3]
    assert [row[:3] for row in view.disliked.values.tolist()] == [
        ["quantum chromodynamics lattice", 1, 0],
        ["Why did pear output fall?", 1, 0],
    ]
    trace = analytics.disliked_trace(feedback, view.disliked_ids, 0, "en")
    assert "No evidence found" in trace and "`quantum chromodynamics lattice`" in trace
    path = analytics.export_csv(feedback.records(), tmp_path)
    with path.open(encoding="utf-8-sig") as f:
        lines = list(csv.DictReader(f))
    assert [line["vote"] for line in lines] == ["-1", "-1", "1"]
    empty = analytics.analytics_view([], "zh")
    assert empty.summary.startswith("还没有评价") and empty.disliked.empty


def test_feedback_csv_exports_leave_one_folder_with_one_file(
    filled: Library, feedback: FeedbackStore, settings, tmp_path, monkeypatch
):
    from rag_core.workspaces import Workspaces
    from ui.app import build_app

    workspaces = Workspaces(settings, embedder=HashingEmbedder())
    apps = [build_app(workspaces, RuleRewriter()) for _ in range(2)]  # two pages, one process
    exports = [
        next(fn.fn for fn in app.fns.values() if fn.fn and fn.fn.__name__ == "on_export")
        for app in apps
    ]
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setattr(analytics, "_export_folder", None)  # this process has not exported

    def export(on_export) -> tuple[Path, list[str]]:
        path = Path(on_export(gr.Request()))
        with path.open(encoding="utf-8-sig") as f:
            return path, [row["question"] for row in csv.DictReader(f)]

    first, rows = export(exports[0])
    assert rows == []
    _, state = ask(filled, chat.ChatState(), "Why did pear output fall?")
    chat.rate(feedback, state, 1, False, "s", "en")
    second, rows = export(exports[1])
    assert rows == ["Why did pear output fall?"] and second == first
    [folder] = temp.glob("folio-feedback-*")  # one for the process, one file per workspace
    assert [p.relative_to(folder).as_posix() for p in sorted(folder.rglob("*"))] == [
        "default",
        "default/folio-feedback.csv",
    ]
    code = (
        "from pathlib import Path; from ui import analytics;"
        "print(analytics.export_csv([], analytics.export_folder() / 'default'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    exported = Path(done.stdout.strip())
    assert exported.name == "folio-feedback.csv" and not exported.parent.parent.exists()


# The app as a whole ------------------------------------------------------------------------
def test_app_wiring(settings):
    from rag_core.workspaces import Workspaces
    from ui.app import build_app, launch_options

    demo = build_app(
        Workspaces(settings, embedder=HashingEmbedder()), RuleRewriter(), chat_concurrency=5
    )
    options = launch_options()
    assert set(options["i18n"].translations_dict) == {"en", "zh", "zh-TW"}
    assert "allowed_paths" not in options and "auth" not in options  # nothing served by path
    fns = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    assert fns["chat"].concurrency_limit == 5 and fns["chat"].concurrency_id == "chat"
    assert fns["upload"].concurrency_limit == 1
    # Every handler that asks for the request gets it (its annotations must resolve).
    asking = [fn for fn in demo.fns.values() if fn.fn and "request" in fn.fn.__code__.co_varnames]
    assert len(asking) >= 10
    for fn in asking:
        assert gr.utils.get_type_hints(fn.fn).get("request") is gr.Request, fn.name


def test_ui_never_imports_chromadb_torch_or_anthropic():
    code = (
        "import sys, ui.app, ui.chat, ui.documents, ui.analytics, ui.evaluation;"
        "bad = [m for m in ('chromadb', 'torch', 'anthropic') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_composition_root_builds_the_app_from_settings(settings):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    import app
    from rag_core.config import Settings

    server, workspaces, accounts = app.create(settings)
    assert isinstance(server, FastAPI) and workspaces.settings is settings
    assert accounts is None and workspaces.opened() == ["default"]  # login off: one workspace
    client = TestClient(server)
    assert client.get("/healthz").status_code == 200  # the API ...
    assert client.get("/api/v1/documents").json() == {"documents": []}
    page = client.get("/")  # ... and the Gradio UI mounted at /
    assert page.status_code == 200 and "gradio" in page.text.lower()
    assert (settings.db).exists()  # the feedback store was opened (and migrated)
    assert isinstance(app.rewriter_for(settings), RuleRewriter)
    keyed = Settings(anthropic_api_key="k", rewrite_model="claude-rewrite-9")
    rewriter = app.rewriter_for(keyed)
    assert isinstance(rewriter, ClaudeRewriter) and rewriter.model == "claude-rewrite-9"
