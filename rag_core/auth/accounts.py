"""Accounts for the optional login: a name, a password hash and the one workspace it may use.

Stored in the registry database (``accounts`` table, made by its own small migrations under
their own lock key, so they never collide with the registry's or the feedback store's).
Passwords are hashed with scrypt and a per-account random salt; checking one compares in
constant time and spends the same work for an unknown name, so timing tells nothing about
which names exist. Names are case-insensitive (kept in lower case).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from rag_core.config import Settings, check_workspace
from rag_core.errors import ConfigurationError, NotFoundError
from rag_core.store.database import Migration, apply_migrations, create_engine, utcnow, writing
from rag_core.store.locks import LockKey

USER_NAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # scrypt's work grows with the input: refuse megabyte "passwords"

# scrypt cost: 2**14 x 8 x 1 (16 MiB, ~50 ms a check), the interactive-login setting
SCRYPT_N, SCRYPT_R, SCRYPT_P, SALT_BYTES, KEY_BYTES = 2**14, 8, 1, 16, 32


def a001_accounts(conn: Connection) -> None:
    conn.execute(
        sa.text(
            """CREATE TABLE accounts (
            name TEXT PRIMARY KEY,
            workspace TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
        )
    )


MIGRATIONS: list[Migration] = [("a001_accounts", a001_accounts)]


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    workspace: str
    created_at: str
    updated_at: str


def check_user_name(name: str) -> str:
    """``name`` in lower case if it is a valid user name, else a ``ConfigurationError``."""
    lowered = name.strip().lower() if isinstance(name, str) else name
    if not isinstance(lowered, str) or not USER_NAME.fullmatch(lowered):
        raise ConfigurationError(
            f"user name {name!r}: use 1-64 letters, digits, '.', '@', '-' or '_',"
            " starting with a letter or digit"
        )
    return lowered


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ConfigurationError(f"password: use at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ConfigurationError(f"password: use at most {MAX_PASSWORD} characters")
    return password


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$key`` (hex) for ``password``, with a fresh random salt by default."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${key.hex()}"


def password_matches(password: str, stored: str) -> bool:
    """Whether ``password`` hashes to ``stored``, compared in constant time."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(key)
        actual = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES, maxmem=64 * 2**20
    )


@functools.cache
def _decoy() -> str:
    """Checked against when a name is unknown: it costs as much as a wrong password."""
    return hash_password(os.urandom(16).hex())


class Accounts:
    """The accounts table of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Accounts:
        accounts = cls(create_engine(url))
        accounts.migrate()
        return accounts

    def migrate(self) -> list[str]:
        return apply_migrations(self.engine, MIGRATIONS, lock_key=LockKey.ACCOUNTS_MIGRATIONS)

    def add(self, name: str, password: str, workspace: str) -> Account:
        name, workspace = check_user_name(name), check_workspace(workspace)
        stored = hash_password(check_password(password))
        now = utcnow()
        with writing(self.engine) as conn:
            if self._row(conn, name) is not None:
                raise ConfigurationError(f"user {name!r} already exists")
            conn.execute(
                sa.text(
                    "INSERT INTO accounts (name, workspace, password_hash, created_at, updated_at)"
                    " VALUES (:n, :w, :h, :t, :t)"
                ),
                {"n": name, "w": workspace, "h": stored, "t": now},
            )
        return Account(name, workspace, now, now)

    def set_password(self, name: str, password: str) -> Account:
        name = check_user_name(name)
        stored = hash_password(check_password(password))
        with writing(self.engine) as conn:
            updated = conn.execute(
                sa.text("UPDATE accounts SET password_hash = :h, updated_at = :t WHERE name = :n"),
                {"n": name, "h": stored, "t": utcnow()},
            ).rowcount
            row = self._row(conn, name)
        if not updated or row is None:
            raise NotFoundError(f"no user named {name!r}")
        return _account(row)

    def remove(self, name: str) -> Account:
        """Delete the account (the workspace's documents and ratings stay)."""
        name = check_user_name(name)
        with writing(self.engine) as conn:
            row = self._row(conn, name)
            if row is None:
                raise NotFoundError(f"no user named {name!r}")
            conn.execute(sa.text("DELETE FROM accounts WHERE name = :n"), {"n": name})
        return _account(row)

    def get(self, name: str) -> Account | None:
        try:
            name = check_user_name(name)
        except ConfigurationError:
            return None
        with self.engine.connect() as conn:
            row = self._row(conn, name)
        return None if row is None else _account(row)

    def credential(self, name: str) -> str | None:
        """A fingerprint of the account's password hash; ``None`` when there is no such account.

        It changes whenever the password is set (each hash has a fresh salt) and when the
        account is removed and added again: a login session bound to it ends then.
        """
        try:
            name = check_user_name(name)
        except ConfigurationError:
            return None
        with self.engine.connect() as conn:
            row = self._row(conn, name)
        return None if row is None else hashlib.sha256(row.password_hash.encode()).hexdigest()

    def list(self) -> list[Account]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT name, workspace, created_at, updated_at FROM accounts ORDER BY name"
                )
            )
            return [_account(row) for row in rows]

    def verify(self, name: str, password: str) -> Account | None:
        """The account if ``password`` is its password, else ``None`` (same work either way)."""
        try:
            name = check_user_name(name)
        except ConfigurationError:
            name = ""
        row = None
        if name:
            with self.engine.connect() as conn:
                row = self._row(conn, name)
        if not isinstance(password, str) or len(password) > MAX_PASSWORD:
            password = ""
        matches = password_matches(password, row.password_hash if row is not None else _decoy())
        return _account(row) if row is not None and matches else None

    @staticmethod
    def _row(conn: Connection, name: str) -> sa.Row[tuple[str, str, str, str, str]] | None:
        result = conn.execute(
            sa.text(
                "SELECT name, workspace, password_hash, created_at, updated_at"
                " FROM accounts WHERE name = :n"
            ),
            {"n": name},
        )
        return result.first()


def _account(row: sa.Row) -> Account:
    return Account(row.name, row.workspace, row.created_at, row.updated_at)


def accounts_for(settings: Settings) -> Accounts | None:
    """The accounts to log in with when ``login`` is on (``None`` when it is off).

    Refuses to start a login-protected app that nobody could log in to.
    """
    if settings.login == "off":
        return None
    accounts = Accounts.open(settings.registry_url)
    if not accounts.list():
        raise ConfigurationError(
            "FOLIO_LOGIN=on but there are no users: add one with"
            " `python -m rag_core user add NAME --workspace WORKSPACE`"
        )
    return accounts
