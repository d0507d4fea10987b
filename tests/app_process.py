"""``python app.py`` as a real server process on a free loopback port, for kill -9 tests and
the load benchmark (the real offline MiniLM embedder, extractive answers, no API key)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def inherited_env() -> dict[str, str]:
    """This environment without Folio's own settings, but with the session's int8 model
    cache (so the model is quantized once per test session, not once per app start)."""
    return {
        k: v
        for k, v in os.environ.items()
        if k == "FOLIO_MODEL_CACHE"
        or (not k.startswith(("FOLIO_", "ANTHROPIC_", "CHROMA_")) and k != "DATABASE_URL")
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AppProcess:
    """One server process over ``data_dir``; start again after a kill to test recovery."""

    def __init__(self, data_dir: Path, workdir: Path, **settings: str) -> None:
        self.data_dir = data_dir
        self.workdir = workdir
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def feedback_db(self) -> Path:
        return self.workdir / "feedback.db"

    def env(self) -> dict[str, str]:
        env = inherited_env()
        env.update(
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            GRADIO_ANALYTICS_ENABLED="False",
            ANONYMIZED_TELEMETRY="False",
            FOLIO_DATA_DIR=str(self.data_dir),
            FOLIO_DB=str(self.feedback_db),
            FOLIO_HOST="127.0.0.1",
            FOLIO_PORT=str(self.port),
            FOLIO_API_AUTH="off",
            FOLIO_VISION_ENABLED="off",
            **{f"FOLIO_{k.upper()}": v for k, v in self.settings.items()},
        )
        return env

    def start(self, timeout: float = 240.0) -> None:
        """Start and wait until ``/readyz`` answers 200 (recovery runs before that)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        log = (self.workdir / f"server-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "app.py")],
            cwd=self.workdir,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"app.py was not ready in {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.25)

    def log_tail(self) -> str:
        return (self.workdir / f"server-{self.starts}.log").read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, no cleanup."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
            self.process = None
