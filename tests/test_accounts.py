"""Accounts for the login: scrypt hashes, the ``user`` CLI, Gradio's auth callable, startup."""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
import subprocess
import sys

import pytest

from rag_core.auth.accounts import Accounts, accounts_for, hash_password, password_matches
from rag_core.cli.commands import main
from rag_core.config import Settings
from rag_core.errors import ConfigurationError, NotFoundError

from .conftest import REPO


@pytest.fixture
def accounts(settings: Settings) -> Accounts:
    return Accounts.open(settings.registry_url)


def test_add_verify_change_and_remove(accounts: Accounts, settings: Settings):
    alice = accounts.add("Alice", "correct horse", "team-a")
    assert (alice.name, alice.workspace) == ("alice", "team-a")
    assert accounts.verify("alice", "correct horse") == alice
    assert accounts.verify(" ALICE ", "correct horse") == alice  # names ignore case
    assert accounts.verify("alice", "correct horsE") is None
    assert accounts.verify("nobody", "correct horse") is None
    assert accounts.verify("../x", "correct horse") is None  # not even a valid name
    accounts.add("bob", "correct horse", "team-b")
    assert [a.name for a in accounts.list()] == ["alice", "bob"]

    with sqlite3.connect(settings.data_dir / "library.db") as db:
        rows = dict(db.execute("SELECT name, password_hash FROM accounts").fetchall())
    assert "correct horse" not in str(rows)
    assert rows["alice"] != rows["bob"]  # the same password, a different salt
    scheme, n, r, p, salt, key = rows["alice"].split("$")
    assert (scheme, n, r, p, len(bytes.fromhex(salt)), len(bytes.fromhex(key))) == (
        "scrypt",
        "16384",
        "8",
        "1",
        16,
        32,
    )

    accounts.set_password("alice", "battery staple")
    assert accounts.verify("alice", "correct horse") is None
    assert accounts.verify("alice", "battery staple").workspace == "team-a"
    assert accounts.remove("alice").workspace == "team-a"
    assert accounts.get("alice") is None and accounts.verify("alice", "battery staple") is None
    with pytest.raises(NotFoundError, match="no user named 'alice'"):
        accounts.remove("alice")
    with pytest.raises(NotFoundError, match="no user named 'carol'"):
        accounts.set_password("carol", "long enough")


def test_bad_input_is_refused_with_the_reason(accounts: Accounts):
    accounts.add("bob", "correct horse", "b")
    with pytest.raises(ConfigurationError, match="user 'bob' already exists"):
        accounts.add("BOB", "another password", "c")
    with pytest.raises(ConfigurationError, match=r"workspace '\.\./a'"):
        accounts.add("carol", "correct horse", "../a")
    with pytest.raises(ConfigurationError, match="at least 8 characters"):
        accounts.add("carol", "short", "c")
    with pytest.raises(ConfigurationError, match="at most 1024 characters"):
        accounts.add("carol", "x" * 1025, "c")
    with pytest.raises(ConfigurationError, match="user name 'a b'"):
        accounts.add("a b", "correct horse", "c")
    assert [a.name for a in accounts.list()] == ["bob"]  # nothing half-made
    assert accounts.get("bob").workspace == "b"


def test_password_hash_round_trip():
    stored = hash_password("s3cret-pass")
    assert password_matches("s3cret-pass", stored)
    assert not password_matches("s3cret-pasS", stored)
    assert not password_matches("s3cret-pass", "md5$abc")  # a foreign or broken hash
    assert not password_matches("s3cret-pass", "scrypt$16384$8$1$zz$zz")


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(args), out=out, err=err), out.getvalue(), err.getvalue()


def test_user_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("FOLIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse\n"))
    assert run("user", "add", "alice", "--workspace", "a", "--password-stdin") == (
        0,
        "added user alice (workspace a)\n",
        "",
    )
    prompts = iter(["battery staple", "battery staple", "one password", "another one"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(prompts))
    assert run("user", "add", "bob", "--workspace", "b")[0] == 0  # typed twice at a prompt
    code, out, err = run("user", "passwd", "bob")
    assert (code, out) == (1, "") and "the two entries differ" in err
    code, out, _ = run("user", "list")
    assert code == 0 and [line.split()[:3] for line in out.splitlines()] == [
        ["alice", "workspace", "a"],
        ["bob", "workspace", "b"],
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO("new password here\n"))
    assert run("user", "passwd", "alice", "--password-stdin")[1] == "password of alice changed\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    code, _, err = run("user", "add", "carol", "--workspace", "c", "--password-stdin")
    assert code == 1 and "password: use at least 8 characters" in err
    assert run("user", "remove", "bob")[1] == (
        "removed user bob (workspace b keeps its documents)\n"
    )
    code, _, err = run("user", "remove", "bob")
    assert code == 1 and "no user named 'bob'" in err
    accounts = Accounts.open(f"sqlite:///{tmp_path / 'data' / 'library.db'}")
    assert accounts.verify("alice", "new password here").workspace == "a"
    assert accounts.verify("bob", "battery staple") is None


def test_auth_callable_checks_the_accounts(accounts: Accounts, caplog):
    from ui.app import auth_for

    accounts.add("alice", "correct horse", "a")
    auth = auth_for(accounts)
    assert asyncio.run(auth("alice", "correct horse")) is True
    assert not caplog.records
    assert asyncio.run(auth("alice", "wrong password")) is False
    assert [r.getMessage() for r in caplog.records] == ["failed login for user name 'alice'"]
    assert asyncio.run(auth("mallory", "correct horse")) is False
    assert asyncio.run(auth("", "")) is False


def test_login_on_with_no_users_refuses_to_start(settings: Settings, tmp_path):
    import app

    assert accounts_for(settings) is None  # login is off by default
    on = settings.model_copy(update={"login": "on"})
    with pytest.raises(ConfigurationError, match="no users: add one with `python -m rag_core"):
        app.create(on)
    Accounts.open(on.registry_url).add("alice", "correct horse", "a")
    _, workspaces, accounts = app.create(on)
    assert accounts is not None and workspaces.opened() == ["a"]  # the account's workspace

    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
    env.update(FOLIO_LOGIN="on", FOLIO_DATA_DIR=str(tmp_path / "empty"))
    result = subprocess.run(
        [sys.executable, str(REPO / "app.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().endswith(
        "error: FOLIO_LOGIN=on but there are no users: add one with"
        " `python -m rag_core user add NAME --workspace WORKSPACE`"
    )
    assert "Traceback" not in result.stderr
