"""Sources (issue 18): syncing a watched folder of 1,000 files with the real text model.

The folder (in a temp directory, never in the repository) holds generated Markdown and text
files and a few real PDFs copied from the shared data (the smallest of ``uda_ex/pdfs``). The
library uses the default settings (built-in MiniLM, int8 OpenVINO on a CPU), its model warmed
up before any timing. Measured, in this order, each a full ``Sources.sync``:

- the first sync (everything goes in);
- re-syncs with nothing changed (target: at most 1 s), several times;
- one file changed; ten files renamed; 100 files deleted;
- the folder scan alone (a ``stat`` per file), the floor of a re-sync;
- the baseline of the first sync: the same files (generated again, identically) added to a
  fresh library with ``Library.add``, as an upload of them all would, in the same run.

    python bench/sources_sync.py [--files 1000] [--pdfs 5] [--repeat 5] [--no-baseline]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _common import shared_data

WORDS = tuple(
    [
        "harvest",
        "orchard",
        "engine",
        "lighthouse",
        "volunteer",
        "budget",
        "revenue",
        "invoice",
        "contract",
        "policy",
        "warranty",
        "turbine",
        "forecast",
        "audit",
        "pension",
        "supplier",
        "shipment",
        "quarter",
        "margin",
        "dividend",
        "compliance",
        "storage",
        "network",
        "latency",
        "backup",
        "insurance",
        "tenant",
        "lease",
        "permit",
        "license",
        "inspection",
        "safety",
        "training",
        "payroll",
        "vendor",
        "proposal",
        "minutes",
        "agenda",
        "board",
        "review",
    ]
)


def generate(folder: Path, count: int, pdfs: list[Path]) -> list[str]:
    """``count`` files: the PDFs, then Markdown and text in nested folders. Returns paths."""
    rng = random.Random(18)
    paths = []
    for pdf in pdfs:
        shutil.copy(pdf, folder / pdf.name)
        paths.append(pdf.name)
    for i in range(count - len(pdfs)):
        topic = rng.sample(WORDS, 3)
        body = "\n\n".join(
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 90))).capitalize() + "."
            for _ in range(rng.randint(1, 4))
        )
        suffix = ".md" if i % 2 else ".txt"
        text = f"# Note {i}: {' '.join(topic)}\n\n{body}\n" if suffix == ".md" else body
        path = f"team{i % 7}/year{i % 5}/note{i:04d}{suffix}"
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text, encoding="utf-8")
        paths.append(path)
    old = time.time() - 3600  # written an hour ago: nothing is still being written
    for path in paths:
        os.utime(folder / path, (old, old))
    return paths


def timed(label: str, sources, name: str) -> tuple[float, float]:
    """A sync's wall time and this process's CPU time (the machine is shared: the CPU time
    is what the sync itself costs, the wall time adds whatever else ran meanwhile)."""
    started, cpu = time.perf_counter(), time.process_time()
    report = sources.sync(name)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"{label:<28} {seconds:8.3f} s (cpu {cpu:.3f} s)  seen {report.seen}, "
        f"added {report.added}, updated "
        f"{report.updated}, renamed {report.renamed}, removed {report.removed}, unchanged "
        f"{report.unchanged}, waiting {len(report.waiting)}, failed {len(report.failed)}",
        flush=True,
    )
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--pdfs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-baseline", dest="baseline", action="store_false")
    args = parser.parse_args()

    from rag_core.config import Settings
    from rag_core.library import Library
    from rag_core.sources.scan import scan_folder

    pdfs = sorted((shared_data() / "uda_ex" / "pdfs").glob("*.pdf"), key=lambda p: p.stat().st_size)
    pdfs = pdfs[: args.pdfs]
    with tempfile.TemporaryDirectory(prefix="folio-sources-bench-") as tmp:
        root = Path(tmp)
        folder = root / "shared-drive"
        folder.mkdir()
        paths = generate(folder, args.files, pdfs)
        print(f"{len(paths)} files ({len(pdfs)} real PDFs: {', '.join(p.name for p in pdfs)})")
        settings = Settings(data_dir=root / "data", db=root / "feedback.db")
        library = Library.open(settings)
        started = time.perf_counter()
        library.embedder.embed(["warm up"])  # load (and quantize) the model first
        print(f"model ready in {time.perf_counter() - started:.1f} s ({library.embedder.name})")
        # Warm what the process loads once (pdfium, tokenizers, Chroma) in a throwaway library,
        # so that neither the sync nor its baseline pays for it.
        warm = Library.open(
            Settings(data_dir=root / "data-warm", db=root / "w.db"), embedder=library.embedder
        )
        warm.add([folder / paths[0], folder / paths[-1]])
        status = library.sources.add(folder, roots=None, every=0)
        name = status.name

        first = timed("first sync", library.sources, name)
        docs = library.status()
        print(f"  -> {docs.ready} documents, {docs.chunks} chunks, {docs.pages} pages")
        again = [
            timed("re-sync, nothing changed", library.sources, name) for _ in range(args.repeat)
        ]

        changed = folder / paths[-1]
        changed.write_text(changed.read_text() + "\n\nOne more paragraph about the audit.\n")
        done = time.time() - 10  # its writer finished a while ago (FOLIO_SOURCE_SETTLE_SECONDS)
        os.utime(changed, (done, done))
        one = timed("one file changed", library.sources, name)

        moved = paths[-11:-1]
        for path in moved:
            os.rename(folder / path, folder / (path + ".moved.md"))
        renamed = timed("ten files renamed", library.sources, name)

        for path in [p for p in paths[len(pdfs) : -1] if p not in moved][:100]:
            (folder / path).unlink()
        deleted = timed("100 files deleted", library.sources, name)

        scans = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            scan_folder(folder, status.source.rules)
            scans.append(time.perf_counter() - started)
        print(f"{'scan alone (floor)':<28} {statistics.median(scans):8.3f} s (median)")

        baseline = None
        if args.baseline:
            again_folder = root / "uploads"
            again_folder.mkdir()
            files = [again_folder / p for p in generate(again_folder, args.files, pdfs)]
            fresh = Settings(data_dir=root / "data-upload", db=root / "feedback-upload.db")
            uploads = Library.open(fresh, embedder=library.embedder)  # the same warm model
            started = time.perf_counter()
            report = uploads.add(files)
            baseline = time.perf_counter() - started
            print(
                f"{'Library.add, same files':<28} {baseline:8.3f} s  "
                f"failed {len(report.failed)} of {len(report.results)}"
            )

        print("\n| step | wall s | CPU s |\n|---|---|---|")
        ratio = f" ({first[0] / baseline:.2f}x `Library.add` of the same files: {baseline:.1f} s)"
        print(
            f"| first sync ({args.files} files){ratio if baseline else ''} | {first[0]:.1f} | "
            f"{first[1]:.1f} |"
        )
        walls, cpus = [w for w, _ in again], [c for _, c in again]
        print(
            f"| re-sync, nothing changed (median of {args.repeat}; max) | "
            f"{statistics.median(walls):.3f} ({max(walls):.3f}) | "
            f"{statistics.median(cpus):.3f} ({max(cpus):.3f}) |"
        )
        for label, (wall, cpu) in (
            ("one file changed", one),
            ("ten files renamed", renamed),
            ("100 files deleted", deleted),
        ):
            print(f"| {label} | {wall:.3f} | {cpu:.3f} |")
        print(f"| the folder scan alone (median) | {statistics.median(scans):.3f} | |")


if __name__ == "__main__":
    main()
