"""THE permission matrix, walked over the real server's routes: every (role x endpoint) pair.

Endpoints are discovered from the running server (every route guarded by ``require``) and
the expected outcome from its permission table. A new protected endpoint joins by adding one
sample request to ``SAMPLES``; a route without one fails the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.accesskit import (
    Api,
    admin_api,
    fresh_database,
    grant,
    issuer,
    new_project,
    session,
    start,
    unique,
)
from tests.integration.conftest import ServerProcess

RANK = {"authenticated": 0, "viewer": 1, "publisher": 2, "policy_writer": 3, "admin": 4, "server_admin": 5}
CALLERS = ["none", "viewer", "publisher", "policy_writer", "admin", "server_admin"]


@dataclass
class Ctx:
    """One (caller, endpoint) case: a fresh project, the caller's API and the administrator's."""

    srv: ServerProcess
    admin: Api
    caller: Api
    email: str
    project: str

    def fresh_caller(self) -> Api:
        self.caller = Api(self.srv, session(self.srv, self.email))
        return self.caller


# (method, path) -> prepare(ctx) -> (json body or None); the path's {project} is ctx.project.
Sample = Callable[[Ctx], Any]


def _own_token(ctx: Ctx) -> str:
    made = ctx.caller("POST", f"/api/v1/projects/{ctx.project}/tokens", {"role": "viewer"})
    if made.status_code != 201:
        made = ctx.admin("POST", f"/api/v1/projects/{ctx.project}/tokens", {"role": "viewer"})
    return str(made.json()["id"])


def _other_member(ctx: Ctx) -> dict[str, str]:
    email = unique("member") + "@example.com"
    grant(ctx.admin, ctx.project, email, "viewer")
    return {"issuer": issuer(ctx.srv), "subject": email}


SAMPLES: dict[tuple[str, str], Sample] = {
    ("GET", "/api/v1/auth/whoami"): lambda c: None,
    ("DELETE", "/api/v1/auth/session"): lambda c: c.fresh_caller() and None,
    ("GET", "/api/v1/projects"): lambda c: None,
    ("POST", "/api/v1/projects"): lambda c: {"name": unique("top")},
    ("GET", "/api/v1/projects/{project}"): lambda c: None,
    ("DELETE", "/api/v1/projects/{project}"): lambda c: None,
    ("POST", "/api/v1/projects/{project}/children"): lambda c: {"name": unique("child")},
    ("GET", "/api/v1/projects/{project}/grants"): lambda c: None,
    ("POST", "/api/v1/projects/{project}/grants"): lambda c: {
        "issuer": issuer(c.srv),
        "subject": unique("new") + "@example.com",
        "role": "viewer",
    },
    ("POST", "/api/v1/projects/{project}/grants/revoke"): _other_member,
    ("GET", "/api/v1/projects/{project}/tokens"): lambda c: None,
    ("POST", "/api/v1/projects/{project}/tokens"): lambda c: {"role": "viewer", "name": "matrix"},
    ("POST", "/api/v1/projects/{project}/tokens/{token_id}/revoke"): lambda c: None,
    ("GET", "/api/v1/projects/{project}/audit"): lambda c: None,
    ("GET", "/api/v1/audit"): lambda c: None,
    ("GET", "/api/v1/audit/anchors"): lambda c: None,
    ("POST", "/api/v1/audit/anchor"): lambda c: None,
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def matrix_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    gen = fresh_database(request.param)
    database = next(gen)
    srv = start(tmp_path_factory.mktemp("matrix"), database)
    try:
        yield srv
    finally:
        srv.stop()
        gen.close()


def _allowed(table: dict[str, Any], caller: str, action: str) -> bool:
    need = RANK[table[action]["role"]]
    if caller == "none":
        return need == 0
    return RANK[caller] >= need


def _routes(srv: ServerProcess) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    doc = Api(srv, None).ok("GET", "/api/v1/access/permissions")
    return doc["routes"], doc["permissions"]


@pytest.mark.slow
@pytest.mark.parametrize("caller", CALLERS)
def test_every_role_on_every_endpoint(matrix_server: ServerProcess, caller: str) -> None:
    srv = matrix_server
    routes, table = _routes(srv)
    missing = [(r["method"], r["path"]) for r in routes if (r["method"], r["path"]) not in SAMPLES]
    assert not missing, f"protected routes without a sample request in SAMPLES: {missing}"
    assert len(routes) >= len(SAMPLES) - 1
    admin = admin_api(srv)
    email = "admin@example.com" if caller == "server_admin" else unique(caller) + "@example.com"
    failures = []
    for route in routes:
        project = new_project(admin)
        if caller in RANK and caller != "server_admin":
            grant(admin, project, email, caller)
        ctx = Ctx(srv, admin, Api(srv, session(srv, email)), email, project)
        body = SAMPLES[(route["method"], route["path"])](ctx)
        path = route["path"].replace("{project}", project)
        if "{token_id}" in path:
            path = path.replace("{token_id}", _own_token(ctx))
        r = ctx.caller(route["method"], path, body)
        allowed = _allowed(table, caller, route["action"])
        if allowed and not 200 <= r.status_code < 300:
            failures.append(f"{caller} {route['method']} {route['path']}: expected 2xx, got {r.status_code} {r.text}")
        if not allowed:
            reason = r.json().get("reason") if r.status_code == 403 else None
            if reason not in ("insufficient-role", "not-server-admin"):
                failures.append(
                    f"{caller} {route['method']} {route['path']}: expected 403, got {r.status_code} {r.text}"
                )
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_every_endpoint_needs_credentials(matrix_server: ServerProcess) -> None:
    srv = matrix_server
    routes, _ = _routes(srv)
    project = new_project(admin_api(srv))
    for route in routes:
        path = route["path"].replace("{project}", project).replace("{token_id}", "0" * 16)
        r = Api(srv, None)(route["method"], path, {})
        assert r.status_code == 401, (route, r.text)
        assert r.json()["reason"] == "credentials-missing"


def test_the_table_says_what_the_issue_asks(matrix_server: ServerProcess) -> None:
    _, table = _routes(matrix_server)
    # spot checks written independently of the server's table
    assert not _allowed(table, "viewer", "member.write")
    assert not _allowed(table, "publisher", "policy.write")
    assert _allowed(table, "policy_writer", "policy.write")
    assert _allowed(table, "publisher", "artifact.publish")
    assert _allowed(table, "publisher", "evidence.write")
    assert not _allowed(table, "viewer", "evidence.write")
    assert _allowed(table, "viewer", "evidence.read")
    assert not _allowed(table, "none", "project.read")
    assert not _allowed(table, "admin", "project.create")
    assert _allowed(table, "admin", "project.admin")


def test_readme_matrix_matches_the_table(matrix_server: ServerProcess) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    _, table = _routes(matrix_server)
    for action, row in table.items():
        assert f"| `{action}` | {row['role']} |" in readme, f"README matrix lacks {action} -> {row['role']}"
