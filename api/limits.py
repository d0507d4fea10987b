"""A body-size limit enforced while the body arrives (pure ASGI middleware).

A request whose ``Content-Length`` is over the limit gets 413 before anything is read; a
body sent without a length is counted as it arrives and cut off with 413 at the limit, so
an oversized upload never lands in memory or on disk whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag_core.ingest.readers import MB


class BodyLimit:
    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int | None]) -> None:
        self.app = app
        self.limit_for = limit_for  # path -> bytes allowed (None: no limit here)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for(scope.get("path", "")) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id", "")
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _too_large(send, limit, request_id)
                return
        received = 0
        over = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True  # the app sees the client leave and stops reading
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                return  # the app's reply to the cut-off body is replaced by the 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)
        if over and not started:
            await _too_large(send, limit, request_id)


async def _too_large(send: Send, limit: int, request_id: str) -> None:
    body = json.dumps(
        {
            "error": {
                "code": "too_large",
                "message": f"The request body is over the limit of {round(limit / MB, 2):g} MB "
                "(uploads: FOLIO_MAX_UPLOAD_MB per request; send big files one at a time)",
                "request_id": request_id,
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
