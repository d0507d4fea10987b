"""A throwaway PostgreSQL server for tests (Debian's postgresql server binaries).

Without the binaries the PostgreSQL tests are skipped, unless ``FOLIO_REQUIRE_POSTGRES=1``
(set by ``make test``, so CI really runs them): then they fail with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _newest_bin() -> Path:
    """Debian's server binaries, newest major version installed (15 on bookworm)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


BIN = _newest_bin()
# Read when the test modules are imported: the autouse fixture clears FOLIO_* per test.
REQUIRED = os.environ.get("FOLIO_REQUIRE_POSTGRES", "") == "1"


def require() -> None:
    """Skip the calling test when no server can be started here (fail when required)."""
    reason = available()
    if reason is None:
        return
    if REQUIRED:
        pytest.fail(f"FOLIO_REQUIRE_POSTGRES=1 but PostgreSQL cannot run here: {reason}")
    pytest.skip(reason)


def available() -> str | None:
    """Why a server cannot be started here, or None when it can."""
    if not (BIN / "initdb").exists():
        return "PostgreSQL binaries not installed (make system-deps)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a private cluster in a temp folder; yields its SQLAlchemy URL."""
    folder = Path(tempfile.mkdtemp(prefix="folio-pg-"))
    data = folder / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        shutil.chown(folder, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [
            *prefix,
            str(BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "folio",
            "--auth=trust",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [*prefix, str(BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("PostgreSQL did not start") from None
                time.sleep(0.1)
        import psycopg

        for _ in range(100):  # accepting connections before it accepts logins
            try:
                psycopg.connect(f"host=127.0.0.1 port={port} user=folio dbname=postgres").close()
                break
            except psycopg.OperationalError:
                time.sleep(0.1)
        yield f"postgresql+psycopg://folio@127.0.0.1:{port}/postgres"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def create_database(url: str, name: str) -> str:
    """A new empty database on the server at ``url``; returns its URL."""
    import psycopg

    server = url.removeprefix("postgresql+psycopg://").rsplit("/", 1)[0]
    user, host_port = server.split("@")
    host, port = host_port.split(":")
    with psycopg.connect(
        f"host={host} port={port} user={user} dbname=postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://{server}/{name}"
