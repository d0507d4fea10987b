"""Who is asking: API keys (each bound to one workspace) and a per-key token bucket.

``FOLIO_API_AUTH``: ``off`` never asks for a key (every request uses the default workspace);
``on`` always does (with no key made yet, every request is refused); ``auto`` (the default)
asks once any active key exists, so a fresh install works at once and making the first key
(``python -m rag_core apikey create``) turns authentication on.

The rate limit is kept in this process: with several replicas each one allows the full rate.
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
from rag_core.config import DEFAULT_WORKSPACE

from .errors import ApiError

AuthMode = Literal["auto", "on", "off"]


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


def presented_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>`` or ``X-API-Key: <token>``."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = request.headers.get("x-api-key", "").strip()
    return key or None


class Access:
    """Decides each request's workspace from its key, and applies the rate limit."""

    def __init__(self, keys: ApiKeys | None, mode: AuthMode, limiter: TokenBucket) -> None:
        if mode != "off" and keys is None:
            raise ValueError("API keys are needed unless FOLIO_API_AUTH=off")
        self.keys = keys
        self.mode = mode
        self.limiter = limiter

    def required(self) -> bool:
        if self.mode == "off" or self.keys is None:
            return False
        return self.mode == "on" or self.keys.any_active()

    def caller(self, request: Request) -> Caller:
        token = presented_token(request)
        if self.required() or (token is not None and self.mode != "off"):
            caller = self._authenticate(token)
        else:
            client = request.client.host if request.client else "unknown"
            caller = Caller(DEFAULT_WORKSPACE, None, f"client:{client}")
        request.state.workspace = caller.workspace
        request.state.key_id = caller.key_id
        wait = self.limiter.take(caller.bucket)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise ApiError(
                429,
                "rate_limited",
                f"Too many requests for this API key; retry in {seconds} s "
                "(FOLIO_API_RATE_PER_MINUTE, FOLIO_API_BURST)",
                {"Retry-After": str(seconds)},
            )
        return caller

    def _authenticate(self, token: str | None) -> Caller:
        challenge = {"WWW-Authenticate": "Bearer"}
        if token is None:
            raise ApiError(
                401,
                "unauthorized",
                "An API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'",
                challenge,
            )
        assert self.keys is not None
        key = self.keys.verify(token)
        if key is None:
            message = "The API key is not valid or was revoked"
            raise ApiError(401, "unauthorized", message, challenge)
        return Caller(key.workspace, key.id, f"key:{key.id}")
