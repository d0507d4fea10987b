"""The evaluation commands' arguments and runners, kept apart from the library commands.

``eval ... --answers [--judge offline|claude]``, ``judge-agreement``, ``export-feedback``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from rag_core.config import Settings
from rag_core.errors import ConfigurationError, NotFoundError


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def add_answer_arguments(evaluate: argparse.ArgumentParser) -> None:
    evaluate.add_argument(
        "--answers", action="store_true", help="also ask every question and score the answers"
    )
    evaluate.add_argument(
        "--judge",
        choices=("offline", "claude"),
        default="offline",
        help="who scores the answers: offline metrics, or also Claude through ragas",
    )


def add_eval_commands(commands: argparse._SubParsersAction) -> None:
    agreement = commands.add_parser(
        "judge-agreement", help="agreement of the answer judge with FinanceBench's human labels"
    )
    agreement.add_argument(
        "--results",
        type=Path,
        help="FinanceBench results folder (default: FOLIO_EVAL_ROOT/financebench/results)",
    )
    agreement.add_argument("--judge", choices=("offline", "claude"), default="offline")
    agreement.add_argument("--limit", type=int, help="only the first N answers of each file")
    agreement.add_argument("--out", type=Path, help="folder for the JSON and markdown results")

    calibrate = commands.add_parser(
        "calibrate",
        help="fit the evidence gate on the gate samples of evaluation runs (leave one set out)",
    )
    calibrate.add_argument(
        "runs", type=Path, nargs="+", help="run JSON files (or folders of them) written by eval"
    )
    calibrate.add_argument(
        "--out", type=Path, help="where to write the model (default: FOLIO_DATA_DIR/gate.json)"
    )
    calibrate.add_argument(
        "--max-answerable-refusal",
        type=float,
        default=0.10,
        help="share of answerable questions the threshold may refuse (default: %(default)s)",
    )

    export = commands.add_parser(
        "export-feedback", help="thumbs-down answers as a pdfqa question set"
    )
    export.add_argument("--out", type=Path, required=True, help="folder to write the set to")
    export.add_argument(
        "--no-pdfs", action="store_true", help="do not copy the cited PDFs from the library"
    )


def check_answer_arguments(args: argparse.Namespace, settings: Settings) -> None:
    """Fail before a long retrieval run when the answer options cannot work."""
    if args.judge != "offline" and not args.answers:
        raise ConfigurationError("--judge scores answers: add --answers")
    if args.answers and args.judge == "claude":
        from rag_core.eval.ragas_metrics import ClaudeJudge

        ClaudeJudge.from_settings(settings)


def add_answers(
    args: argparse.Namespace, settings: Settings, json_path: Path, md_path: Path, out: TextIO
) -> None:
    """Run the answer evaluation and add its rows to the written report."""
    from rag_core.eval.answers import add_answers_to_report, run_answer_eval

    answers = run_answer_eval(args.set_dir, settings, args.judge, args.limit, progress=_say)
    add_answers_to_report(answers, json_path, md_path)
    print(f"\nAnswers ({answers.judge} judge; {answers.answer_mode}):\n", file=out)
    print(answers.table(), file=out)


def cmd_eval(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """``eval SET_DIR``: retrieval metrics of every leg, and with ``--answers`` the answers'."""
    from rag_core.assemble import gate_model_for
    from rag_core.eval.gate_data import add_gate_to_report, gate_table, run_gate_eval
    from rag_core.eval.retrieval import eval_library, run_eval, write_report

    check_answer_arguments(args, settings)
    library = eval_library(settings, args.set_dir)
    evaluation = run_eval(
        args.set_dir, settings, args.legs, args.limit, progress=_say, library=library
    )
    json_path, md_path = write_report(evaluation, args.out or settings.data_dir / "eval" / "runs")
    print(evaluation.table(), file=out)
    gate = run_gate_eval(args.set_dir, library, gate_model_for(settings), args.limit, _say)
    add_gate_to_report(gate, json_path, md_path)
    print("\nEvidence gate:\n\n" + gate_table(gate), file=out)
    if args.answers:
        add_answers(args, settings, json_path, md_path, out)
    print(f"\nwritten: {json_path} and {md_path}", file=out)
    return 0


def cmd_judge_agreement(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from rag_core.eval.judge_agreement import (
        JudgeFn,
        claude_judge_fn,
        offline_judge,
        results_dir,
        run_agreement,
        write_agreement,
    )

    judge_fn: JudgeFn = offline_judge
    name = "offline"
    if args.judge == "claude":
        from rag_core.eval.ragas_metrics import ClaudeJudge

        claude = ClaudeJudge.from_settings(settings)
        judge_fn, name = claude_judge_fn(claude), "claude"
    folder = results_dir(args.results or settings.eval_root)
    report = run_agreement(folder, name, judge_fn, args.limit, progress=_say)
    json_path, md_path = write_agreement(report, args.out or settings.data_dir / "eval" / "runs")
    print(report.table(), file=out)
    both = report.correct_or_not
    print(f"\ncorrect or not: accuracy {both.accuracy:.3f}, kappa {both.kappa:.3f}", file=out)
    print(f"\n{report.confusion_table()}", file=out)
    for note in report.notes:
        print(f"note: {note}", file=out)
    print(f"\nwritten: {json_path} and {md_path}", file=out)
    return 0


def _library_pdfs(settings: Settings, workspace: str) -> Callable[[str], Path | None]:
    from rag_core.library import Library

    # Only reads stored files: no crash repair (a running server may be ingesting).
    library = Library.open(settings, workspace=workspace, recover=False, check_model=False)

    def find(name: str) -> Path | None:
        try:
            doc = library.find(name)
        except NotFoundError:
            return None
        return library.stored_file(doc.id)

    return find


def cmd_export_feedback(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from rag_core.feedback.export import export_feedback, read_feedback

    records = read_feedback(settings.feedback_url, args.workspace)
    source = None if args.no_pdfs else _library_pdfs(settings, args.workspace)
    report = export_feedback(records, args.out, source)
    print(
        f"exported {report.exported} thumbs-down answers to {report.questions} "
        f"({report.duplicates} repeated ratings merged)",
        file=out,
    )
    if report.pdfs_copied:
        print(f"copied {len(report.pdfs_copied)} PDFs to {args.out / 'pdfs'}", file=out)
    for name in report.pdfs_missing:
        print(f"not in the library: {name}", file=out)
    return 0


def cmd_calibrate(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """``calibrate RUN.json ...``: fit the evidence gate, report it leave-one-set-out."""
    from rag_core.eval.gate_data import calibrate, load_samples

    if not 0.0 <= args.max_answerable_refusal < 1.0:
        raise ConfigurationError("--max-answerable-refusal must be in [0, 1)")
    samples = load_samples(args.runs)
    target = args.out or settings.data_dir / "gate.json"
    report = calibrate(samples, args.max_answerable_refusal)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(report.model.to_json(), encoding="utf-8")
    print(report.table(), file=out)
    print(f"\nwritten: {target} (use it with FOLIO_GATE_MODEL={target})", file=out)
    return 0
