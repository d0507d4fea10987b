"""Keys of the HTTP API, each bound to one workspace, stored as SHA-256 digests.

A token is ``folio_`` followed by 32 random bytes (256 bits, ``secrets.token_urlsafe``). It is
shown once, when made; the registry keeps only its SHA-256. A fast hash is enough here, unlike
for passwords: nobody can guess or brute-force a 256-bit random value, so a slow KDF (bcrypt,
argon2) would add cost to every request and no protection, and a plain digest lets a request
find its key by an indexed lookup. The digest found is compared again with
``hmac.compare_digest`` so the check does not depend on a timing-variable string comparison.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from rag_core.config import check_workspace
from rag_core.errors import InputError, NotFoundError
from rag_core.store.database import apply_migrations, create_engine, utcnow, writing
from rag_core.store.locks import LockKey
from rag_core.store.migrations import MIGRATIONS

TOKEN_PREFIX = "folio_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as listed: never the token, only its first characters to recognise it."""

    id: str
    name: str
    workspace: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class NewApiKey:
    key: ApiKey
    token: str  # shown once; not stored


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiKeys:
    """The ``api_keys`` table of the registry database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, registry_url: str) -> ApiKeys:
        engine = create_engine(registry_url)
        apply_migrations(engine, MIGRATIONS, lock_key=LockKey.REGISTRY_MIGRATIONS)
        return cls(engine)

    def create(self, workspace: str, name: str) -> NewApiKey:
        check_workspace(workspace)
        name = name.strip()
        if not name or len(name) > 100:
            raise InputError("name", "give the key a name of 1-100 characters")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            id=secrets.token_hex(6),
            name=name,
            workspace=workspace,
            prefix=token[: len(TOKEN_PREFIX) + 6],
            created_at=datetime.fromisoformat(utcnow()),
            revoked_at=None,
        )
        with writing(self.engine) as conn:
            conn.execute(
                text(
                    "INSERT INTO api_keys (id, name, workspace, token_sha256, prefix, created_at)"
                    " VALUES (:id, :name, :ws, :digest, :prefix, :at)"
                ),
                {
                    "id": key.id,
                    "name": key.name,
                    "ws": workspace,
                    "digest": token_digest(token),
                    "prefix": key.prefix,
                    "at": key.created_at.isoformat(),
                },
            )
        return NewApiKey(key, token)

    def verify(self, token: str) -> ApiKey | None:
        """The active key whose token this is, else ``None``."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = token_digest(token)
        with self.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT id, name, workspace, prefix, created_at, revoked_at, token_sha256"
                    " FROM api_keys WHERE token_sha256 = :d AND revoked_at IS NULL"
                ),
                {"d": digest},
            ).first()
        if row is None or not hmac.compare_digest(row.token_sha256, digest):
            return None
        return _key(row)

    def list_keys(self) -> list[ApiKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, name, workspace, prefix, created_at, revoked_at FROM api_keys"
                    " ORDER BY created_at, id"
                )
            ).all()
        return [_key(row) for row in rows]

    def any_active(self) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(
                text("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1")
            ).first()
        return row is not None

    def revoke(self, id_or_name: str) -> ApiKey:
        """Revoke the key with this id (or this unique name); it stops working at once."""
        matches = [k for k in self.list_keys() if k.active and id_or_name in (k.id, k.name)]
        if len(matches) != 1:
            what = "no active key" if not matches else f"{len(matches)} active keys"
            raise NotFoundError(f"API key {id_or_name!r}: {what} with this id or name")
        with writing(self.engine) as conn:
            conn.execute(
                text("UPDATE api_keys SET revoked_at = :at WHERE id = :id"),
                {"at": utcnow(), "id": matches[0].id},
            )
        return next(k for k in self.list_keys() if k.id == matches[0].id)


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        workspace=row.workspace,
        prefix=row.prefix,
        created_at=datetime.fromisoformat(row.created_at),
        revoked_at=datetime.fromisoformat(row.revoked_at) if row.revoked_at else None,
    )
