"""The dashboard over plain HTTP (no browser), on SQLite and PostgreSQL: login, CSRF, visibility, every page.

Bad input asserts the reason a refusal page shows (``X-Assay-Reason`` and the page text): a POST without a
valid CSRF token (``csrf-token-invalid``), a page of another project (``unknown-project``, the same page as a
missing project), a login callback that was not started here (``login-state-invalid``). An unauthenticated
browser is redirected to the login page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.integration.accesskit import ADMIN, fresh_database
from tests.integration.dashboardkit import (
    OTHER,
    PROJECT,
    PUBLISHER,
    VIEWER,
    Site,
    api_session,
    csrf_of,
    dashboard_site,
    ui_login,
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    gen = fresh_database(request.param)
    database = next(gen)
    s = dashboard_site(tmp_path_factory.mktemp("dashboard"), database)
    try:
        yield s
    finally:
        s.srv.stop()
        gen.close()


@pytest.fixture(scope="module")
def admin(site: Site) -> Iterator[httpx.Client]:
    with closing(ui_login(site.url)) as c:
        yield c


@pytest.fixture(scope="module")
def viewer(site: Site) -> Iterator[httpx.Client]:
    with closing(ui_login(site.url, VIEWER)) as c:
        yield c


def _refused(r: httpx.Response, status: int, reason: str) -> None:
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["x-assay-reason"] == reason
    assert f'<code class="reason">{reason}</code>' in r.text
    assert r.headers["content-type"].startswith("text/html")


def _pages(site: Site) -> list[dict[str, str]]:
    pages = httpx.get(site.url + "/api/v1/access/permissions", timeout=30).json()["pages"]
    return [p for p in pages if p["method"] == "GET"]  # the forms' POSTs are tested in test_dashboard_forms.py


def _path(site: Site, template: str, project: str = PROJECT) -> str:
    path = template.replace("{project}", project).replace("{digest}", site.bundle_digest)
    path = path.replace("{index}", "0").replace("{entity}", "none")
    if path.endswith("/graph"):
        path += "?subject=" + site.artifact_digest
    return path


def test_login_sets_a_safe_session_cookie(site: Site) -> None:
    with closing(ui_login(site.url, PUBLISHER, "/ui/log")) as c:
        jar = {ck.name: ck for ck in c.cookies.jar}
        session = jar["assay_ui_session"]
        assert session.value.startswith("assay_s_")
        assert session.path == "/ui" and not session.secure  # loopback: not Secure
        assert session.has_nonstandard_attr("HttpOnly") and session.get_nonstandard_attr("SameSite") == "lax"
        assert c.get("/ui/log").status_code == 200
    # the session is a real one: the API accepts it
    r = httpx.get(site.url + "/api/v1/auth/whoami", headers={"Authorization": f"Bearer {session.value}"})
    assert r.status_code == 200 and r.json()["subject"] == PUBLISHER
    rows = site.admin.ok("GET", "/api/v1/audit?limit=10000")["rows"]
    assert any(r["action"] == "session.create" and "(dashboard)" in r["target"] and PUBLISHER in r["actor"]
               for r in rows)  # fmt: skip


def test_unauthenticated_pages_redirect_to_login(site: Site) -> None:
    pages = _pages(site)
    assert len(pages) >= 12
    for p in pages:
        path = _path(site, p["path"])
        r = httpx.get(site.url + path, timeout=30)
        assert r.status_code == 303, (path, r.status_code)
        assert r.headers["location"].startswith("/ui/login?next=%2Fui%2F"), r.headers["location"]
    # a forged or revoked cookie is no session either
    r = httpx.get(site.url + "/ui/projects", cookies={"assay_ui_session": "assay_s_" + "0" * 16 + "_" + "A" * 43})
    assert r.status_code == 303


def test_every_page_renders_for_the_administrator(site: Site, admin: httpx.Client) -> None:
    for p in _pages(site):
        path = _path(site, p["path"])
        r = admin.get(path)
        expected = 404 if "{entity}" in p["path"] else 200  # no profiles package yet: no entity exists
        assert r.status_code == expected, (path, r.status_code, r.text[:300])
        assert r.headers["content-security-policy"].startswith("default-src 'none'")
        assert "<h1>" in r.text and 'lang="en"' in r.text


def test_page_matrix_by_role(site: Site, admin: httpx.Client, viewer: httpx.Client) -> None:
    """Each page's action from the permission table: the viewer reads its project, never the audit logs."""
    table = httpx.get(site.url + "/api/v1/access/permissions", timeout=30).json()["permissions"]
    for p in _pages(site):
        if "{entity}" in p["path"]:
            continue
        r = viewer.get(_path(site, p["path"]))
        need = table[p["action"]]["role"]
        if need in ("authenticated", "viewer"):
            assert r.status_code == 200, (p, r.status_code)
        elif need == "server_admin":
            _refused(r, 403, "not-server-admin")
        else:
            _refused(r, 403, "insufficient-role")


def test_another_projects_page_is_the_missing_project_page(site: Site, viewer: httpx.Client) -> None:
    for p in _pages(site):
        if "{project}" not in p["path"]:
            continue
        hidden = viewer.get(_path(site, p["path"], OTHER))
        missing = viewer.get(_path(site, p["path"], "no-such-project"))
        _refused(hidden, 404, "unknown-project")
        _refused(missing, 404, "unknown-project")
        assert hidden.text.replace(OTHER, "X") == missing.text.replace("no-such-project", "X")
    # refusals are audited with the page's reason
    rows = site.admin.ok("GET", f"/api/v1/audit?project={OTHER}&limit=10000")["rows"]
    assert any(r["target"] == f"GET /ui/projects/{OTHER}" and r["result"] == "refused:404:unknown-project"
               and VIEWER in r["actor"] for r in rows)  # fmt: skip
    # and the projects list shows only the viewer's project
    page = viewer.get("/ui/projects").text
    assert f'href="/ui/projects/{PROJECT}"' in page and OTHER not in page


def test_csrf_refusals(site: Site) -> None:
    with closing(ui_login(site.url, PUBLISHER)) as c:
        token = csrf_of(c.get("/ui/projects").text)
        _refused(c.post("/ui/logout", data={}), 403, "csrf-token-invalid")
        _refused(c.post("/ui/logout", data={"csrf": "0" * 64}), 403, "csrf-token-invalid")
        # a cross-site form: the browser sends the cookies, but the page cannot know the token
        _refused(c.post("/ui/logout", content=b"x=1", headers={"content-type": "application/x-www-form-urlencoded"}),
                 403, "csrf-token-invalid")  # fmt: skip
        # another browser's valid token does not fit this browser's binding
        with httpx.Client(base_url=site.url) as other:
            foreign = csrf_of(other.get("/ui/login").text)
        assert foreign != token
        _refused(c.post("/ui/logout", data={"csrf": foreign}), 403, "csrf-token-invalid")
        assert c.get("/ui/projects").status_code == 200  # still signed in: nothing happened
        # the login form is protected too
        _refused(c.post("/ui/login", data={"issuer": site.url + "/dev/oidc"}), 403, "csrf-token-invalid")
        # with the token: signed out, and the session is closed for the API as well
        session = c.cookies.get("assay_ui_session")
        out = c.post("/ui/logout", data={"csrf": token})
        assert out.status_code == 303 and out.headers["location"] == "/ui/login"
        assert c.get("/ui/projects").status_code == 303
    r = httpx.get(site.url + "/api/v1/auth/whoami", headers={"Authorization": f"Bearer {session}"})
    assert r.status_code == 401


def test_login_refusals(site: Site) -> None:
    with httpx.Client(base_url=site.url) as c:
        _refused(c.get("/ui/callback", params={"code": "x", "state": "y"}), 400, "login-state-invalid")
        _refused(c.get("/ui/callback"), 400, "login-state-invalid")
        token = csrf_of(c.get("/ui/login").text)
        _refused(c.post("/ui/login", data={"csrf": token, "issuer": "https://evil.example"}), 400, "unknown-issuer")
        # a started login whose state does not match what came back
        go = c.post("/ui/login", data={"csrf": token, "issuer": site.url + "/dev/oidc"})
        assert go.status_code == 303
        _refused(c.get("/ui/callback", params={"code": "x", "state": "forged"}), 400, "login-state-invalid")
        # the right state but a code the issuer never gave
        state = re.search(r"state=([^&]+)", go.headers["location"])
        assert state
        _refused(c.get("/ui/callback", params={"code": "made-up", "state": state.group(1)}), 401, "login-failed")
        # off-site "next" is ignored
        assert 'value="/ui/projects"' in c.get("/ui/login", params={"next": "https://evil.example/"}).text
        assert 'value="/ui/projects"' in c.get("/ui/login", params={"next": "//evil.example/"}).text


def test_bad_input_pages(site: Site, admin: httpx.Client) -> None:
    _refused(admin.get(f"/ui/projects/{PROJECT}/evidence/sha256:{'0' * 64}"), 404, "evidence-not-found")
    _refused(admin.get(f"/ui/projects/{PROJECT}/evidence/sha256:xyz"), 400, "bad-digest")
    _refused(admin.get(f"/ui/projects/{PROJECT}/graph"), 400, "bad-digest")
    _refused(admin.get(f"/ui/projects/{PROJECT}/graph", params={"subject": "nope"}), 400, "bad-digest")
    _refused(admin.get("/ui/log/entries/999999"), 404, "entry-not-found")
    _refused(admin.get("/ui/projects/Bad%00Name"), 400, "bad-project-name")
    _refused(admin.get(f"/ui/projects/{PROJECT}/entities/nothing"), 404, "unknown-entity")
    # the framework's refusals are pages under /ui, and stay JSON for the API
    _refused(admin.get("/ui/log/entries/abc"), 400, "bad-request")
    _refused(admin.get(f"/ui/projects/{PROJECT}/graph", params={"subject": site.artifact_digest, "depth": "99"}),
             400, "bad-request")  # fmt: skip
    _refused(admin.get("/ui/no-such-page"), 404, "unknown-route")
    _refused(admin.delete("/ui/projects"), 405, "method-not-allowed")
    api = httpx.get(site.url + "/api/v1/no-such-route")
    assert api.status_code == 404 and api.json()["reason"] == "unknown-route"
    api = httpx.get(site.url + "/api/v1/log/entries", params={"logIndex": "abc"})
    assert api.headers["content-type"].startswith("application/json")


def test_log_entry_is_verified_here(site: Site, admin: httpx.Client) -> None:
    log = admin.get("/ui/log").text
    assert "<svg" in log and "<polyline" in log
    size = int(httpx.get(site.url + "/api/v1/log").json()["treeSize"])
    assert size >= 2
    for index in range(size):
        page = admin.get(f"/ui/log/entries/{index}").text
        status = re.search(r'id="proof-status">(.*?)</p>', page, re.S)
        assert status and "status-ok" in status.group(1) and "verified" in status.group(1), page[:2000]
        assert "signed checkpoint" in status.group(1)


def test_project_evidence_and_graph(site: Site, admin: httpx.Client) -> None:
    page = admin.get(f"/ui/projects/{PROJECT}").text
    assert site.bundle_digest[:23] in page and "status-ok" in page
    item = admin.get(f"/ui/projects/{PROJECT}/evidence/{site.bundle_digest}").text
    assert "https://slsa.dev/provenance/v1" in item and "app.bin" in item
    graph = admin.get(f"/ui/projects/{PROJECT}/graph", params={"subject": site.artifact_digest}).text
    assert '<svg role="img" aria-labelledby="graph-title"' in graph
    assert "provenance (verified)" in graph and 'fill="#e6f4ea"' in graph  # status as text and colour
    assert f"/ui/projects/{PROJECT}/evidence/{site.bundle_digest}" in graph


def test_audit_pages(site: Site, admin: httpx.Client) -> None:
    everything = admin.get("/ui/audit").text
    assert "session.create" in everything and ADMIN in everything
    project = admin.get(f"/ui/projects/{PROJECT}/audit").text
    assert "evidence.write" in project or "policy.write" in project


def test_profile_pages_show_their_empty_state(site: Site, admin: httpx.Client) -> None:
    for part, text in (("profiles", "No profiles yet"), ("entities", "No entities yet"), ("history", "No history yet")):
        assert text in admin.get(f"/ui/projects/{PROJECT}/{part}").text


def test_static_css_is_served(site: Site) -> None:
    r = httpx.get(site.url + "/ui/static/style.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    assert "@media" in r.text
    assert httpx.get(site.url + "/ui/static/../app.py").status_code == 404


def test_api_session_and_dashboard_agree(site: Site) -> None:
    """The API's project list and the dashboard's show the same projects to the same viewer."""
    api = api_session(site, VIEWER).ok("GET", "/api/v1/projects")["projects"]
    with closing(ui_login(site.url, VIEWER)) as c:
        page = c.get("/ui/projects").text
    shown = set(re.findall(r'href="/ui/projects/([a-z0-9._-]+)"', page))
    assert shown == {p["name"] for p in api}


def test_pages_are_listed_for_the_matrix(site: Site) -> None:
    pages = {(p["method"], p["path"]): p["action"] for p in _pages(site)}
    assert pages[("GET", "/ui/projects/{project}")] == "project.read"
    assert pages[("GET", "/ui/audit")] == "audit.read_all"
    assert pages[("GET", "/ui/projects/{project}/audit")] == "audit.read"
    assert pages[("GET", "/ui/log/entries/{index}")] == "dashboard.read"
    assert all(Path(p).parts[1] == "ui" for _, p in pages)


def test_profile_pages_show_real_results(site: Site, admin: httpx.Client) -> None:
    """The profile pages read the profiles package: a profile, its entity and the failure, in colour and text."""
    import json
    import time

    project = "dash-profiles"
    site.admin.ok("POST", "/api/v1/projects", {"name": project})
    pem = (site.work / "rel.pub").read_text()
    doc = {
        "apiVersion": "assay.dev/v1",
        "kind": "Profile",
        "metadata": {"name": "release-signed"},
        "spec": {"interval": "30s", "rules": [{"name": "signed", "signature": {"authorities": {"keys": [pem]}}}]},
    }
    r = site.admin("POST", f"/api/v1/projects/{project}/profiles", content=json.dumps(doc).encode())
    assert r.status_code in (200, 201), r.text
    digest = "sha256:" + "cd" * 32  # nothing attests it: the rule fails
    r = site.admin("POST", f"/api/v1/projects/{project}/entities", {"kind": "evidence-subject", "name": digest})
    assert r.status_code in (200, 201), r.text
    entity_id = str(r.json()["id"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page = admin.get(f"/ui/projects/{project}/profiles")
        if "release-signed" in page.text and "failure" in page.text:
            break
        time.sleep(0.5)
    assert page.status_code == 200 and "release-signed" in page.text and "failure" in page.text, page.text[-2000:]
    entity = admin.get(f"/ui/projects/{project}/entities/{entity_id}")
    assert entity.status_code == 200 and digest in entity.text and "failure" in entity.text
    history = admin.get(f"/ui/projects/{project}/history")
    assert history.status_code == 200 and "signed" in history.text and "failure" in history.text
    missing = admin.get(f"/ui/projects/{project}/entities/99999999999999999999")
    _refused(missing, 404, "unknown-entity")


def test_entities_come_in_pages(site: Site, admin: httpx.Client) -> None:
    """The entities page shows 100 at a time, in registration order, with a next-page link that reaches the rest."""
    import re

    project = "dash-pages"
    site.admin.ok("POST", "/api/v1/projects", {"name": project})
    names = ["sha256:" + f"{i:064x}" for i in range(105)]
    for name in names:
        r = site.admin("POST", f"/api/v1/projects/{project}/entities", {"kind": "evidence-subject", "name": name})
        assert r.status_code in (200, 201), r.text
    first = admin.get(f"/ui/projects/{project}/entities")
    assert first.status_code == 200
    shown = [n for n in names if n in first.text]
    assert shown == names[:100]
    link = re.search(r'href="(/ui/projects/dash-pages/entities\?after=\d+)" rel="next"', first.text)
    assert link, first.text[-1500:]
    second = admin.get(link.group(1))
    assert second.status_code == 200
    assert [n for n in names if n in second.text] == names[100:]
    assert 'rel="next"' not in second.text and "First page" in second.text
    bad = admin.get(f"/ui/projects/{project}/entities?after=-1")
    assert bad.status_code == 400 and "invalid-parameter" in bad.text
