"""Issue 22 item 3, attacked through the HTTP API: a project you may not read does not exist for you.

Found: a caller with no role got 403 ``insufficient-role`` for a project that exists and 404
``unknown-project`` for one that does not, so names could be enumerated. Now both are the same 404 (same
body, after the same work, so not measurably faster either); a member without enough role still gets 403
naming the permission, and a public project keeps its public reads.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.accesskit import Api, admin_api, fresh_database, grant, issuer, new_project, session, start
from tests.integration.accesskit import unique as unique_name
from tests.integration.conftest import ServerProcess

DIGEST = "sha256:" + "ab" * 32
# every kind of project-scoped request: the project, members, tokens, audit, evidence, artifacts, settings
REQUESTS: list[tuple[str, str, object]] = [
    ("GET", "", None),
    ("DELETE", "", None),
    ("PUT", "/visibility", {"visibility": "public"}),
    ("POST", "/children", {"name": "child"}),
    ("GET", "/grants", None),
    ("POST", "/grants", {"issuer": "https://i.example", "subject": "x@example.com", "role": "viewer"}),
    ("POST", "/grants/revoke", {"issuer": "https://i.example", "subject": "x@example.com"}),
    ("GET", "/tokens", None),
    ("POST", "/tokens", {"role": "viewer"}),
    ("POST", "/tokens/" + "0" * 16 + "/revoke", None),
    ("GET", "/audit", None),
    ("GET", "/evidence", None),
    ("POST", "/evidence", {"payload": "x"}),
    ("GET", f"/evidence/{DIGEST}", None),
    ("GET", f"/graph?subject={DIGEST}", None),
    ("GET", "/trust", None),
    ("PUT", "/trust", {"keys": []}),
    ("PUT", "/retention", {"unverifiedRetentionDays": 3}),
    ("PUT", "/repository/policy", {"policy": "x"}),
    ("GET", "/artifacts/app.bin", None),
    ("GET", "/artifacts/app.bin/1.0", None),
    ("GET", "/artifacts/app.bin/1.0/vsa", None),
    ("PUT", "/artifacts/app.bin/1.0", None),
    ("DELETE", "/artifacts/app.bin/1.0", None),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    gen = fresh_database(request.param)
    server = start(tmp_path_factory.mktemp("existence"), next(gen))
    try:
        yield server
    finally:
        server.stop()
        gen.close()


def _send(api: Api, method: str, project: str, suffix: str, body: object) -> httpx.Response:
    return api(method, f"/api/v1/projects/{project}{suffix}", body)


def _same_404(exists: httpx.Response, missing: httpx.Response, name: str, gone: str, what: str) -> None:
    assert (exists.status_code, exists.json().get("reason")) == (404, "unknown-project"), (what, exists.text)
    assert missing.status_code == 404, (what, missing.text)
    renamed = {k: v.replace(gone, name) if isinstance(v, str) else v for k, v in missing.json().items()}
    assert exists.json() == renamed, what


def test_no_role_and_missing_answer_the_same(srv: ServerProcess) -> None:
    admin = admin_api(srv)
    project = new_project(admin)
    stranger = Api(srv, session(srv, unique_name("stranger") + "@example.com"))
    for method, suffix, body in REQUESTS:
        gone = unique_name("gone")
        exists = _send(stranger, method, project, suffix, body)
        missing = _send(stranger, method, gone, suffix, body)
        _same_404(exists, missing, project, gone, f"{method} {suffix}")
    # nothing happened to the project meanwhile
    assert admin.ok("GET", f"/api/v1/projects/{project}")["name"] == project
    assert [g["role"] for g in admin.ok("GET", f"/api/v1/projects/{project}/grants")["grants"]] == ["admin"]


def test_a_token_for_another_project_sees_no_more(srv: ServerProcess) -> None:
    admin = admin_api(srv)
    mine, theirs = new_project(admin), new_project(admin)
    token = Api(srv, admin.ok("POST", f"/api/v1/projects/{mine}/tokens", {"role": "admin"})["token"])
    for method, suffix, body in REQUESTS:
        gone = unique_name("gone")
        exists = _send(token, method, theirs, suffix, body)
        _same_404(exists, _send(token, method, gone, suffix, body), theirs, gone, f"{method} {suffix}")


def test_members_without_the_role_get_403_naming_the_permission(srv: ServerProcess) -> None:
    admin = admin_api(srv)
    project = new_project(admin)
    email = unique_name("viewer") + "@example.com"
    grant(admin, project, email, "viewer")
    viewer = Api(srv, session(srv, email))
    for method, suffix, body, action in [
        ("GET", "/audit", None, "audit.read"),
        ("GET", "/grants", None, None),
        ("POST", "/grants", {"issuer": issuer(srv), "subject": "x@example.com", "role": "viewer"}, "member.write"),
        ("PUT", "/trust", {"keys": []}, "policy.write"),
        ("POST", "/evidence", {"payload": "x"}, "evidence.write"),
        ("DELETE", "", None, "project.delete"),
    ]:
        r = _send(viewer, method, project, suffix, body)
        if action is None:
            assert r.status_code == 200, r.text
            continue
        assert (r.status_code, r.json()["reason"]) == (403, "insufficient-role"), (suffix, r.text)
        assert r.json()["message"].startswith(action) and "you have viewer" in r.json()["message"]


def test_public_projects_keep_their_public_reads(srv: ServerProcess) -> None:
    admin = admin_api(srv)
    project = new_project(admin)
    admin.ok("PUT", f"/api/v1/projects/{project}/visibility", {"visibility": "public"})
    stranger = Api(srv, session(srv, unique_name("stranger") + "@example.com"))
    assert stranger.ok("GET", f"/api/v1/projects/{project}/evidence")["items"] == []
    assert Api(srv, None).ok("GET", f"/api/v1/projects/{project}/evidence")["items"] == []
    r = stranger("GET", f"/api/v1/projects/{project}/grants")  # its existence is public; its members are not
    assert (r.status_code, r.json()["reason"]) == (403, "insufficient-role"), r.text
    gone = unique_name("gone")
    r = stranger("GET", f"/api/v1/projects/{gone}/evidence")
    assert (r.status_code, r.json()["reason"]) == (404, "unknown-project")


def _timed(client: httpx.Client, url: str) -> float:
    t = time.perf_counter()
    r = client.get(url)
    elapsed = time.perf_counter() - t
    assert r.status_code == 404 and r.json()["reason"] == "unknown-project", r.text
    return elapsed


@pytest.mark.parametrize("depth", [0, 6])
def test_missing_is_not_answered_faster_than_forbidden(srv: ServerProcess, depth: int) -> None:
    """Medians over 30 requests each, interleaved, each for a name not asked before (as enumeration does),
    the forbidden ones top-level projects or children ``depth`` levels down (their ancestors are looked up
    too). Generous bounds: this asserts that both paths do the same work, not a speed."""
    admin = admin_api(srv)
    parent = None
    for _ in range(depth):
        parent = new_project(admin, parent)
    stranger = session(srv, unique_name("stranger") + "@example.com")
    seen = []
    # A systematic difference shows in every round; a round disturbed by other load on the machine does not.
    for _round in range(3):
        existing = [new_project(admin, parent) for _ in range(31)]
        forbidden, missing = [], []
        with httpx.Client(base_url=srv.url, timeout=30, headers={"Authorization": f"Bearer {stranger}"}) as client:
            _timed(client, f"/api/v1/projects/{existing.pop()}/evidence")  # warm the connection
            for name in existing:
                forbidden.append(_timed(client, f"/api/v1/projects/{name}/evidence"))
                missing.append(_timed(client, f"/api/v1/projects/{unique_name('gone')}/evidence"))
        ratio = statistics.median(missing) / statistics.median(forbidden)
        seen.append((round(ratio, 2), statistics.median(missing), statistics.median(forbidden)))
        if 0.5 <= ratio <= 2.0:
            return
    raise AssertionError(f"missing and forbidden differ in every round (ratio, medians): {seen}")


def test_a_taken_name_tells_nothing_but_that_it_is_taken(srv: ServerProcess) -> None:
    """Names are one namespace: creating a child under a taken name is 409, the same whatever the name hides."""
    admin = admin_api(srv)
    email = unique_name("owner") + "@example.com"
    mine, readable, secret, deleted = (new_project(admin) for _ in range(4))
    grant(admin, mine, email, "admin")
    grant(admin, readable, email, "viewer")
    admin.ok("DELETE", f"/api/v1/projects/{deleted}")
    owner = Api(srv, session(srv, email))
    answers = {}
    for name in (readable, secret, deleted):
        r = owner("POST", f"/api/v1/projects/{mine}/children", {"name": name})
        assert (r.status_code, r.json()["reason"]) == (409, "project-exists"), r.text
        answers[name] = {k: v.replace(name, "NAME") if isinstance(v, str) else v for k, v in r.json().items()}
    assert answers[readable] == answers[secret] == answers[deleted]
    # and nothing was created or changed
    assert owner("GET", f"/api/v1/projects/{secret}").status_code == 404
