"""ASGI middleware refusing request bodies over the limit, declared or streamed."""

from __future__ import annotations

import json
from typing import Any

Scope = dict[str, Any]


class BodyLimit:
    """413 for bodies larger than ``limit`` bytes, without reading them.

    ``fast_paths`` maps (method, path) to a handler ``(body) -> (status, headers, body)``
    run without the framework's routing (the log's append path, which is hot).
    """

    def __init__(
        self,
        app: Any,
        limit: int,
        fast_paths: dict[tuple[str, str], Any] | None = None,
        streamed: Any = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.fast_paths = fast_paths or {}
        self.streamed = streamed  # a compiled pattern: (METHOD path) requests the app streams and limits itself

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.streamed is not None and self.streamed.fullmatch(f"{scope.get('method')} {scope.get('path')}"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > self.limit:
            await _too_large(send, self.limit)
            return
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        # Read the (bounded) body here, so an oversize stream is refused before the app sees it.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await _too_large(send, self.limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        fast = self.fast_paths.get((scope.get("method", ""), scope.get("path", "")))
        if fast is not None:
            status, headers, payload = await fast(body)
            hdrs = [(k.encode(), v.encode()) for k, v in headers.items()]
            hdrs.append((b"content-length", str(len(payload)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": hdrs})
            await send({"type": "http.response.body", "body": payload})
            return
        delivered = False

        async def replay() -> Any:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Any, limit: int) -> None:
    body = json.dumps(
        {"code": 413, "reason": "request-too-large", "message": f"request bodies are limited to {limit} bytes"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
