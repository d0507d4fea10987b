"""A throwaway Chroma server for tests, started from the installed chromadb package."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ChromaServer:
    host: str
    port: int
    path: Path  # where the server keeps its data

    def heartbeat(self) -> bool:
        url = f"http://{self.host}:{self.port}/api/v2/heartbeat"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chroma_command() -> list[str]:
    """``chroma`` from the running interpreter's environment (its console script)."""
    script = Path(sys.executable).with_name("chroma")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from chromadb.cli.cli import app; app()"]


@contextmanager
def chroma_server(
    timeout: float = 60.0, folder: Path | None = None, port: int | None = None
) -> Iterator[ChromaServer]:
    """Run ``chroma run`` on a loopback port (free unless given) over ``folder`` (a temp
    folder, removed after, unless given: then it is kept for a restart); stop it after."""
    keep = folder is not None
    folder = folder or Path(tempfile.mkdtemp(prefix="folio-chroma-"))
    folder.mkdir(parents=True, exist_ok=True)
    server = ChromaServer("127.0.0.1", port or free_port(), folder / "db")
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            *chroma_command(),
            "run",
            "--path",
            str(server.path),
            "--host",
            server.host,
            "--port",
            str(server.port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + timeout
        while not server.heartbeat():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (folder / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"Chroma server did not start:\n{tail}")
            time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        log.close()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
