"""Projects, grants, tokens and sessions against real servers on SQLite and PostgreSQL: the refusals."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.accesskit import (
    ADMIN,
    Api,
    admin_api,
    audit_rows,
    fresh_database,
    grant,
    issuer,
    new_project,
    session,
    start,
    unique,
)
from tests.integration.conftest import ServerProcess


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[str | None]:
    gen = fresh_database(request.param)
    yield next(gen)
    gen.close()


@pytest.fixture(scope="module")
def srv(db: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start(tmp_path_factory.mktemp("access"), db)
    try:
        yield server
    finally:
        server.stop()


def _user(srv: ServerProcess, project: str, role: str) -> Api:
    email = unique(role) + "@example.com"
    grant(admin_api(srv), project, email, role)
    return Api(srv, session(srv, email))


def _refused(r: httpx.Response, status: int, reason: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["reason"] == reason, r.text


def _last_refusal(srv: ServerProcess) -> dict[str, Any]:
    return [r for r in audit_rows(admin_api(srv)) if r["result"].startswith("refused")][-1]


def test_token_lifecycle_and_refusals(srv: ServerProcess, db: str | None) -> None:
    admin = admin_api(srv)
    project, other = new_project(admin), new_project(admin)
    made = admin.ok("POST", f"/api/v1/projects/{project}/tokens", {"role": "publisher", "name": "ci", "expires": "30d"})
    token = made["token"]
    assert Api(srv, token).ok("GET", f"/api/v1/projects/{project}")["role"] == "publisher"
    listed = admin.ok("GET", f"/api/v1/projects/{project}/tokens")["tokens"]
    assert [t["id"] for t in listed] == [made["id"]] and "token" not in listed[0]
    # wrong project (a members-only project the token may not read does not exist for it), malformed, forged,
    # in the query string
    _refused(Api(srv, token)("GET", f"/api/v1/projects/{other}"), 404, "unknown-project")
    _refused(Api(srv, token[:-3])("GET", f"/api/v1/projects/{project}"), 401, "token-malformed")
    forged = token[:25] + "A" * 43  # assay_t_ + 16 hex id + _
    _refused(Api(srv, forged)("GET", f"/api/v1/projects/{project}"), 401, "token-invalid")
    _refused(Api(srv, "not-a-credential")("GET", "/api/v1/auth/whoami"), 401, "credential-malformed")
    r = Api(srv, None)("GET", f"/api/v1/projects/{project}", params={"access_token": token})
    _refused(r, 400, "token-in-query")
    assert _last_refusal(srv)["result"] == "refused:400:token-in-query"
    r = httpx.get(srv.url + f"/api/v1/projects/{project}", headers={"Authorization": f"Basic {token}"})
    _refused(r, 401, "credential-malformed")
    # revoked
    admin.ok("POST", f"/api/v1/projects/{project}/tokens/{made['id']}/revoke")
    _refused(Api(srv, token)("GET", f"/api/v1/projects/{project}"), 401, "token-revoked")
    # expired
    short = admin.ok("POST", f"/api/v1/projects/{project}/tokens", {"role": "viewer", "expires": "1s"})
    time.sleep(2.1)
    _refused(Api(srv, short["token"])("GET", f"/api/v1/projects/{project}"), 401, "token-expired")
    refusal = _last_refusal(srv)
    assert refusal["result"] == "refused:401:token-expired" and refusal["project"] == project


def test_a_token_never_exceeds_its_creator(srv: ServerProcess) -> None:
    admin = admin_api(srv)
    project = new_project(admin)
    publisher = _user(srv, project, "publisher")
    r = publisher("POST", f"/api/v1/projects/{project}/tokens", {"role": "admin"})
    _refused(r, 403, "role-above-own")
    assert admin.ok("GET", f"/api/v1/projects/{project}/tokens")["tokens"] == []
    # an admin's token loses power when its creator is demoted
    email = unique("lead") + "@example.com"
    grant(admin, project, email, "admin")
    lead = Api(srv, session(srv, email))
    token = lead.ok("POST", f"/api/v1/projects/{project}/tokens", {"role": "admin"})["token"]
    body = {"issuer": issuer(srv), "subject": "x@example.com", "role": "viewer"}
    assert Api(srv, token)("POST", f"/api/v1/projects/{project}/grants", body).status_code == 201
    grant(admin, project, email, "viewer")
    _refused(Api(srv, token)("POST", f"/api/v1/projects/{project}/grants", body), 403, "insufficient-role")
    assert Api(srv, token).ok("GET", f"/api/v1/projects/{project}")["role"] == "viewer"


def test_bad_input_is_refused_and_changes_nothing(srv: ServerProcess) -> None:
    admin = admin_api(srv)
    project = new_project(admin)
    before = admin.ok("GET", f"/api/v1/projects/{project}/grants")
    _refused(admin("GET", "/api/v1/projects/no-such-project"), 404, "unknown-project")
    body = {"issuer": issuer(srv), "subject": "y@example.com", "role": "owner"}
    _refused(admin("POST", f"/api/v1/projects/{project}/grants", body), 400, "unknown-role")
    _refused(admin("POST", "/api/v1/projects", {"name": "Bad_Name"}), 400, "bad-project-name")
    _refused(admin("POST", "/api/v1/projects", {"name": project}), 409, "project-exists")
    revoke = {"issuer": issuer(srv), "subject": ADMIN}
    _refused(admin("POST", f"/api/v1/projects/{project}/grants/revoke", revoke), 409, "last-admin")
    r = httpx.post(
        srv.url + f"/api/v1/projects/{project}/grants",
        content=b'{"issuer": ',
        headers={"Authorization": f"Bearer {admin.bearer}", "Content-Type": "application/json"},
    )
    _refused(r, 400, "json-invalid")
    last = _last_refusal(srv)
    assert (last["action"], last["result"]) == ("member.write", "refused:400:json-invalid")
    r = httpx.post(
        srv.url + f"/api/v1/projects/{project}/grants",
        content=b"x" * (4 * 1024 * 1024 + 10),
        headers={"Authorization": f"Bearer {admin.bearer}"},
    )
    _refused(r, 413, "request-too-large")
    last = _last_refusal(srv)
    assert (last["action"], last["project"], last["result"]) == (
        "member.write",
        project,
        "refused:413:request-too-large",
    )
    assert admin.ok("GET", f"/api/v1/projects/{project}/grants") == before


def test_children_inherit_and_deletion_is_soft(srv: ServerProcess) -> None:
    admin = admin_api(srv)
    parent = new_project(admin)
    child = new_project(admin, parent)
    viewer = _user(srv, parent, "viewer")
    assert viewer.ok("GET", f"/api/v1/projects/{child}")["role"] == "viewer"
    assert {p["name"] for p in viewer.ok("GET", "/api/v1/projects")["projects"]} == {parent, child}
    _refused(viewer("DELETE", f"/api/v1/projects/{child}"), 403, "insufficient-role")
    _refused(admin("DELETE", f"/api/v1/projects/{parent}"), 409, "project-has-children")
    admin.ok("DELETE", f"/api/v1/projects/{child}")
    _refused(admin("GET", f"/api/v1/projects/{child}"), 404, "unknown-project")
    _refused(admin("POST", "/api/v1/projects", {"name": child}), 409, "project-exists")
    history = admin.ok("GET", f"/api/v1/audit?project={child}")["rows"]
    assert [r["action"] for r in history if r["result"] == "ok"][-1] == "project.delete"


def test_sessions_expire_close_and_cannot_be_forged(srv: ServerProcess, db: str | None) -> None:
    admin = admin_api(srv)
    me = admin.ok("GET", "/api/v1/auth/whoami")
    assert (me["subject"], me["serverAdmin"], me["kind"]) == (ADMIN, True, "session")
    forged = admin.bearer[:25] + "B" * 43
    _refused(Api(srv, forged)("GET", "/api/v1/auth/whoami"), 401, "session-invalid")
    _refused(Api(srv, "assay_s_123")("GET", "/api/v1/auth/whoami"), 401, "session-malformed")
    # an expired session: its row says so
    victim = session(srv, "expiring@example.com")
    _set_session_expiry(srv, db, victim.split("_")[2], int(time.time()) - 1)
    _refused(Api(srv, victim)("GET", "/api/v1/auth/whoami"), 401, "session-expired")
    # logout closes it on the server
    closing = Api(srv, session(srv, "leaving@example.com"))
    closing.ok("DELETE", "/api/v1/auth/session")
    _refused(closing("GET", "/api/v1/auth/whoami"), 401, "session-revoked")
    # a bad identity token is refused and recorded
    r = httpx.post(srv.url + "/api/v1/auth/session", json={"identityToken": "nope"})
    _refused(r, 401, "oidc-token-malformed")
    assert _last_refusal(srv)["action"] == "session.create"


def _set_session_expiry(srv: ServerProcess, db: str | None, session_id: str, expires: int) -> None:
    if db is None:
        import sqlite3

        with sqlite3.connect(srv.data_dir / "assay.db") as conn:
            conn.execute("UPDATE sessions SET expires = ? WHERE id = ?", (expires, session_id))
    else:
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("UPDATE sessions SET expires = %s WHERE id = %s", (expires, session_id))


def test_only_owners_and_admins_revoke_tokens(srv: ServerProcess) -> None:
    admin = admin_api(srv)
    project = new_project(admin)
    viewer = _user(srv, project, "viewer")
    admins_token = admin.ok("POST", f"/api/v1/projects/{project}/tokens", {"role": "viewer"})
    r = viewer("POST", f"/api/v1/projects/{project}/tokens/{admins_token['id']}/revoke")
    _refused(r, 403, "not-token-owner")
    _refused(viewer("POST", f"/api/v1/projects/{project}/tokens/{'0' * 16}/revoke"), 404, "unknown-token")
    own = viewer.ok("POST", f"/api/v1/projects/{project}/tokens", {"role": "viewer"})
    assert [t["id"] for t in viewer.ok("GET", f"/api/v1/projects/{project}/tokens")["tokens"]] == [own["id"]]
    assert len(admin.ok("GET", f"/api/v1/projects/{project}/tokens")["tokens"]) == 2
    viewer.ok("POST", f"/api/v1/projects/{project}/tokens/{own['id']}/revoke")
    assert Api(srv, admins_token["token"]).ok("GET", f"/api/v1/projects/{project}")["role"] == "viewer"


def test_a_ci_workflow_identity_can_hold_a_role(srv: ServerProcess) -> None:
    admin = admin_api(srv)
    project = new_project(admin)
    r = httpx.post(srv.url + "/dev/oidc/github/token", json={"repository": "acme/app", "ref": "refs/heads/main"})
    ci = httpx.post(srv.url + "/api/v1/auth/session", json={"identityToken": r.json()["id_token"]}).json()
    assert (ci["issuer"], ci["subject"]) == (srv.url + "/dev/oidc/github", "repo:acme/app:ref:refs/heads/main")
    body = {"issuer": ci["issuer"], "subject": ci["subject"], "role": "publisher"}
    admin.ok("POST", f"/api/v1/projects/{project}/grants", body)
    assert Api(srv, ci["session"]).ok("GET", f"/api/v1/projects/{project}")["role"] == "publisher"
