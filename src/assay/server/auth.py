"""THE authorization interface: ``Depends(require("<action>"))`` on every protected route.

``require`` authenticates ``Authorization: Bearer`` (a session or an API token; tokens in
query strings are refused), scopes the principal to the ``project`` path parameter when the
route has one, checks the role against ``access.permissions.PERMISSIONS`` and returns the
:class:`Principal`. A request without credentials for one of ``PUBLIC_READS`` on a ``public``
project gets the anonymous principal instead of a 401. Refusals answer 401 (no or bad credentials), 403 (role) or 429 (rate),
always with a reason code. :class:`AuditMiddleware` writes the audit row after the response:
every write (with its outcome) and every refusal.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import compile_path

from assay.access.audit import Event
from assay.access.credentials import Principal
from assay.access.errors import AccessError
from assay.access.gate import Access, RateLimited
from assay.access.permissions import changes_access, is_write, min_role
from assay.access.projects import check_name

__all__ = ["AuditMiddleware", "Principal", "install", "require"]

QUERY_TOKEN_KEYS = {"access_token", "token", "session", "api_key", "apikey", "auth"}
LOGIN_LIMITED = {"token.create"}
AUDIT_KEY = "assay.audit"


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AccessError(401, "credential-malformed", "use Authorization: Bearer <session or token>")
    return value.strip()


def refuse_query_tokens(request: Request) -> None:
    """Credentials belong in headers only: query strings end up in logs and browser history."""
    for key, value in request.query_params.multi_items():
        if key.lower() in QUERY_TOKEN_KEYS or value.startswith(("assay_t_", "assay_s_")):
            raise AccessError(400, "token-in-query", "credentials are accepted only in the Authorization header")


def require(action: str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the authenticated, authorised principal for ``action`` (see the module doc)."""
    min_role(action)  # an unknown action fails at import time, not at request time

    async def dependency(request: Request) -> Principal:
        access: Access = request.app.state.access
        project = request.path_params.get("project")
        record: dict[str, Any] = {"action": action, "project": project, "principal": None}
        request.scope.setdefault("state", {})[AUDIT_KEY] = record
        address = _address(request)
        refuse_query_tokens(request)
        if project is not None:
            check_name(project)  # 400 bad-project-name before any lookup (a NUL must never reach the database)
        bearer = _bearer(request)
        if bearer is None:
            public = access.anonymous(action, project)
            if public is not None:
                record["principal"] = public
                return public
        principal = access.authenticate(bearer, address)
        record["principal"] = principal
        if action in LOGIN_LIMITED:
            access.limit_login(address)
        if is_write(action):
            access.limit_write(principal, address)
        principal = access.authorize(principal, action, project)
        record["principal"] = principal
        return principal

    dependency.assay_action = action  # type: ignore[attr-defined]
    return dependency


def _leaves(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full path, route) for every endpoint, through included routers."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from _leaves(list(inner.routes), prefix + str(getattr(context, "prefix", "") or ""))
        elif hasattr(route, "path"):
            yield prefix + route.path, route


def route_actions(app: FastAPI) -> list[dict[str, Any]]:
    """Every route protected by :func:`require`: method, path and action (for the matrix and its test)."""
    found = []
    for path, route in _leaves(list(app.routes)):
        for action in route_actions_of(route):
            for method in sorted(getattr(route, "methods", None) or set()):
                if method != "HEAD":
                    found.append({"method": method, "path": path, "action": action, "role": min_role(action)})
    return sorted(found, key=lambda r: (r["path"], r["method"]))


def install(app: FastAPI, access: Access) -> None:
    """Put the access state on the app and map refusals to their HTTP status."""
    app.state.access = access

    @app.exception_handler(AccessError)
    async def refused(_: Request, exc: AccessError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        body = {"code": exc.status, "reason": exc.reason, "message": exc.message}
        return JSONResponse(body, status_code=exc.status, headers=headers)


class AuditMiddleware:
    """Outermost ASGI layer: request ids, the optional log-write gate, and one audit row per write or refusal."""

    def __init__(self, app: Any, fastapi_app: FastAPI, access: Access, log_write_token: bool = False) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.access = access
        self.log_write_token = log_write_token
        self._protected: list[tuple[re.Pattern[str], str, str]] | None = None

    def _match(self, scope: dict[str, Any]) -> tuple[str, str | None] | None:
        """The action of the protected route a request was for (used when it never reached the route)."""
        if self._protected is None:
            self._protected = [
                (compile_path(r["path"])[0], r["method"], r["action"]) for r in route_actions(self.fastapi_app)
            ]
        for regex, method, action in self._protected:
            m = regex.match(scope.get("path", ""))
            if m and method == scope.get("method"):
                return action, m.groupdict().get("project")
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 0
        body = bytearray()

        async def capture(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for key, value in message.get("headers", []):
                    if key.lower() == b"x-assay-reason":  # a dashboard refusal page names its reason here
                        state["refusal_reason"] = value.decode("latin-1")[:100]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            elif message["type"] == "http.response.body" and status >= 400 and len(body) < 4096:
                body.extend(message.get("body", b"")[:4096])
            await send(message)

        if self.log_write_token and scope.get("method") == "POST" and scope.get("path") == "/api/v1/log/entries":
            refusal = await self._gate_log_write(scope, state)
            if refusal is not None:
                await refusal(scope, receive, capture)
                await self._record(scope, state, status, bytes(body))
                return
        await self.app(scope, receive, capture)
        await self._record(scope, state, status, bytes(body))

    async def _gate_log_write(self, scope: dict[str, Any], state: dict[str, Any]) -> JSONResponse | None:
        request = Request(scope)
        record: dict[str, Any] = {"action": "log.append", "project": None, "principal": None}
        state[AUDIT_KEY] = record
        try:
            refuse_query_tokens(request)
            principal = self.access.authenticate(_bearer(request), _address(request))
            record["principal"] = principal
            self.access.limit_write(principal, _address(request))
            record["principal"] = self.access.authorize(principal, "log.append", None)
        except AccessError as exc:
            headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
            doc = {"code": exc.status, "reason": exc.reason, "message": exc.message}
            return JSONResponse(doc, status_code=exc.status, headers=headers)
        return None

    async def _record(self, scope: dict[str, Any], state: dict[str, Any], status: int, body: bytes) -> None:
        record = state.get(AUDIT_KEY)
        method = scope.get("method", "GET")
        if record is None:
            if status < 400 or method in ("GET", "HEAD", "OPTIONS"):
                return
            matched = self._match(scope)
            if matched is None:
                return
            record = {"action": matched[0], "project": matched[1], "principal": None}
        elif status < 400 and not is_write(record["action"]):
            return
        result = "ok"
        if status < 400 and changes_access(record["action"]):
            self.access.invalidate()  # sessions, tokens, projects or grants changed: cached checks may be stale
        if status >= 400:
            reason = str(state.get("refusal_reason") or "")
            try:
                reason = reason or str(json.loads(body).get("reason", ""))
            except (ValueError, AttributeError):
                pass
            result = f"refused:{status}:{reason}" if reason else f"refused:{status}"
        principal: Principal | None = record["principal"]
        target = str(state.get("audit_target") or f"{method} {scope.get('path', '')}")
        client = scope.get("client")
        event = Event(
            actor=principal.actor if principal else "anonymous",
            action=record["action"],
            result=result,
            target=target,
            project=state.get("audit_project") or record["project"],
            token_id=principal.token_id if principal else None,
            request_id=state.get("request_id", ""),
            address=client[0] if client else "",
        )
        # group-committed with the other requests' rows: one transaction (one fsync) per group, not per request
        await asyncio.wrap_future(self.access.audit_group.submit([event]))


def route_actions_of(route: Any) -> list[str]:
    """The actions a route requires (usually one)."""
    dependant = getattr(route, "dependant", None)
    actions: list[str] = []
    stack = list(dependant.dependencies) if dependant is not None else []
    while stack:
        dep = stack.pop()
        action = getattr(dep.call, "assay_action", None)
        if action:
            actions.append(action)
        stack.extend(dep.dependencies)
    return actions
