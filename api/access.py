"""Who is asking: API keys (each bound to one workspace) and a per-key token bucket.

``FOLIO_API_AUTH``: ``off`` never asks for a key (every request uses the default workspace);
``on`` always does (with no key made yet, every request is refused); ``auto`` (the default)
asks once any active key exists, so a fresh install on this machine works at once and making
the first key (``python -m rag_core apikey create``) turns authentication on.

A server with the login on, or listening beyond loopback, always asks for a key whatever
``FOLIO_API_AUTH`` says, unless ``FOLIO_API_OPEN`` says the API is meant to be open: an
"auto" or "off" API there would hand the ``default`` workspace to anyone who can reach it.

Failed keys are limited per client address (``FAILED_KEYS_PER_MINUTE``): once they are spent
every key from that address gets 429 until the bucket refills, so keys cannot be guessed
fast, and a lucky guess is not told apart from a wrong one meanwhile.

The rate limits are kept in this process: with several replicas each one allows the full rate.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request

from rag_core.auth.api_keys import ApiKeys
from rag_core.config import DEFAULT_WORKSPACE, Settings, is_loopback

from .errors import ApiError

AuthMode = Literal["auto", "on", "off"]
FAILED_KEYS_PER_MINUTE = 10
CREATE_KEY = "python -m rag_core apikey create --workspace <workspace> --name <name>"


def exposure(settings: Settings) -> str | None:
    """Why this server's API must ask for a key whatever FOLIO_API_AUTH says (None: it need
    not): the login is on, or it listens beyond loopback; FOLIO_API_OPEN overrides both."""
    if settings.api_open:
        return None
    if settings.login == "on":
        return "FOLIO_LOGIN=on"
    if not is_loopback(settings.host):
        return f"FOLIO_HOST={settings.host} is not loopback"
    return None


@dataclass(frozen=True, slots=True)
class Caller:
    workspace: str
    key_id: str | None  # None when no key was needed
    bucket: str  # what the rate limit counts: the key, or the client's address


class TokenBucket:
    """Per-name token buckets: ``rate`` tokens a second up to ``burst``; each request takes one.

    Buckets not used for a while are forgotten (at most ``max_buckets`` are kept).
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = 10_000,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, name: str) -> float:
        """0.0 when a token was taken, else the seconds until one is available."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(name, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate if self.rate > 0 else math.inf
            self._buckets[name] = (tokens, now)
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
            return wait

    def waiting(self, name: str) -> float:
        """The seconds until ``name`` has a token, taking none (0.0: it has one now)."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(name, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            return 0.0
        return (1.0 - tokens) / self.rate if self.rate > 0 else math.inf


def presented_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>`` or ``X-API-Key: <token>``."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = request.headers.get("x-api-key", "").strip()
    return key or None


class Access:
    """Decides each request's workspace from its key, and applies the rate limits."""

    def __init__(
        self,
        keys: ApiKeys | None,
        mode: AuthMode,
        limiter: TokenBucket,
        failures: TokenBucket | None = None,
        exposed: str | None = None,
    ) -> None:
        if (mode != "off" or exposed) and keys is None:
            raise ValueError("API keys are needed unless FOLIO_API_AUTH=off")
        self.keys = keys
        self.mode: AuthMode = "on" if exposed else mode
        self.limiter = limiter
        self.failures = failures or TokenBucket(
            FAILED_KEYS_PER_MINUTE / 60.0, FAILED_KEYS_PER_MINUTE
        )
        self.exposed = exposed  # why a key is always required here, or None

    @classmethod
    def for_settings(cls, settings: Settings, keys: ApiKeys | None) -> Access:
        """FOLIO_API_AUTH as configured, made "on" where the API is exposed (``exposure``)."""
        return cls(
            keys,
            settings.api_auth,
            TokenBucket(settings.api_rate_per_minute / 60.0, settings.api_burst),
            exposed=exposure(settings),
        )

    def required(self) -> bool:
        if self.mode == "off" or self.keys is None:
            return False
        return self.mode == "on" or self.keys.any_active()

    def caller(self, request: Request) -> Caller:
        token = presented_token(request)
        client = request.client.host if request.client else "unknown"
        if self.required() or (token is not None and self.mode != "off"):
            caller = self._authenticate(token, client)
        else:
            caller = Caller(DEFAULT_WORKSPACE, None, f"client:{client}")
        request.state.workspace = caller.workspace
        request.state.key_id = caller.key_id
        wait = self.limiter.take(caller.bucket)
        if wait > 0:
            raise _too_many(
                "Too many requests for this API key; retry in {seconds} s "
                "(FOLIO_API_RATE_PER_MINUTE, FOLIO_API_BURST)",
                wait,
            )
        return caller

    def _authenticate(self, token: str | None, client: str) -> Caller:
        blocked = self.failures.waiting(client)
        if blocked > 0:
            raise _too_many(
                "Too many wrong API keys from this address; retry in {seconds} s", blocked
            )
        if token is None:
            raise _unauthorized(self._missing_key_message())
        assert self.keys is not None
        key = self.keys.verify(token)
        if key is None:
            self.failures.take(client)
            raise _unauthorized("The API key is not valid or was revoked")
        return Caller(key.workspace, key.id, f"key:{key.id}")

    def _missing_key_message(self) -> str:
        send = "send 'Authorization: Bearer <key>' or 'X-API-Key'"
        assert self.keys is not None
        if self.keys.any_active():
            return f"An API key is required: {send}"
        why = f" here ({self.exposed})" if self.exposed else ""
        return (
            f"An API key is required{why} and there is no active key yet: make one on the server"
            f" with '{CREATE_KEY}', then {send}"
        )


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})


def _too_many(message: str, wait: float) -> ApiError:
    seconds = max(1, math.ceil(wait))
    return ApiError(
        429, "rate_limited", message.format(seconds=seconds), {"Retry-After": str(seconds)}
    )
