"""Every PostgreSQL advisory lock key Folio takes, in one place.

Advisory locks share one key space per database, so two uses of the same number would
serialise (or deadlock) unrelated work: each key is named here once and never reused. The
values are stored nowhere, but running processes of an older version take the old numbers,
so never change one. The migration keys serialise the openers of one set of tables (see
``database.apply_migrations``); they are separate so that the registry, the feedback store
and the accounts, which may share a database, migrate independently. SQLite needs none of
them (its write lock serialises everything).
"""

from __future__ import annotations

from enum import IntEnum, unique


@unique  # two names for one number would be one lock
class LockKey(IntEnum):
    WRITE = 0x466F6C696F  # every ``database.writing`` transaction ("Folio" in ASCII)
    REGISTRY_MIGRATIONS = 7_000_001  # documents, chunks, ... and api_keys (store/migrations.py)
    FEEDBACK_MIGRATIONS = 7_000_002  # feedback (feedback/store.py)
    ACCOUNTS_MIGRATIONS = 7_000_003  # accounts (auth/accounts.py)
    VISION_MIGRATIONS = 7_000_004  # the vision store's pages and meta (vision/store.py; SQLite)
