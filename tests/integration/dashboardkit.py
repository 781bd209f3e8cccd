"""Helpers for the dashboard tests: a --dev server with two projects, signed material, and a browser-like login.

``dashboard_site`` starts a server with project ``acme`` (evidence: a key-signed SLSA provenance about
``app.bin``, verified; entries in the transparency log) and project ``secret`` (the viewer has no role there).
``ui_login`` signs an httpx client in the way a browser does: the dashboard's login form, the dev issuer's
login page, the callback.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import run_assay
from tests.integration.accesskit import ADMIN, Api, admin_api, grant, session, start
from tests.integration.conftest import ServerProcess

PROJECT = "acme"
OTHER = "secret"
VIEWER = "viewer@acme.test"
PUBLISHER = "ci@acme.test"


@dataclass
class Site:
    """The running server and what is stored on it."""

    srv: ServerProcess
    admin: Api
    artifact_digest: str  # sha256:... of app.bin
    bundle_digest: str  # sha256:... of the stored attestation bundle
    work: Path

    @property
    def url(self) -> str:
        return self.srv.url


def dashboard_site(tmp: Path, database: str | None) -> Site:
    """Start the server and store the material (see the module doc)."""
    srv = start(tmp, database)
    try:
        admin = admin_api(srv)
        for name in (PROJECT, OTHER):
            admin.ok("POST", "/api/v1/projects", {"name": name})
        grant(admin, PROJECT, VIEWER, "viewer")
        grant(admin, PROJECT, PUBLISHER, "publisher")
        work = tmp / "work"
        work.mkdir(exist_ok=True)
        (work / "app.bin").write_bytes(b"dashboard release 1")
        assert run_assay("keygen", "--output-prefix", "rel", cwd=work).code == 0
        (work / "prov.json").write_text(json.dumps({
            "buildDefinition": {"buildType": "https://example.com/b", "externalParameters": {},
                                "resolvedDependencies": [{"uri": "git+https://example.com/src",
                                                          "digest": {"sha256": "ab" * 32}}]},
            "runDetails": {"builder": {"id": "https://example.com/builder"}},
        }))  # fmt: skip
        r = run_assay("attest-blob", "app.bin", "--predicate", "prov.json", "--type", "slsaprovenance1",
                      "--key", "rel.key", "--bundle", "app.prov.json", "--server", srv.url, cwd=work)  # fmt: skip
        assert r.code == 0, r.err
        r = run_assay("sign-blob", "app.bin", "--key", "rel.key", "--server", srv.url, cwd=work)
        assert r.code == 0, r.err
        admin.ok("PUT", f"/api/v1/projects/{PROJECT}/trust", {"keys": [(work / "rel.pub").read_text()]})
        bundle = (work / "app.prov.json").read_bytes()
        up = admin("POST", f"/api/v1/projects/{PROJECT}/evidence", content=bundle)
        assert up.status_code == 201, up.text
        artifact = "sha256:" + hashlib.sha256((work / "app.bin").read_bytes()).hexdigest()
        return Site(srv, admin, artifact, "sha256:" + hashlib.sha256(bundle).hexdigest(), work)
    except BaseException:
        srv.stop()
        raise


def csrf_of(page: str) -> str:
    """The CSRF token of the first form on a page."""
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert m, "the page has no CSRF field"
    return m.group(1)


def ui_login(url: str, email: str = ADMIN, next_path: str = "/ui/projects") -> httpx.Client:
    """An httpx client signed in to the dashboard as ``email`` through the dev issuer's login page."""
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    page = client.get("/ui/login", params={"next": next_path})
    assert page.status_code == 200, page.text
    issuer = re.search(r'name="issuer" value="([^"]+)"', page.text)
    assert issuer
    go = client.post("/ui/login", data={"csrf": csrf_of(page.text), "issuer": issuer.group(1), "next": next_path})
    assert go.status_code == 303, go.text
    login = httpx.get(go.headers["location"], timeout=30)  # the dev issuer's page: another origin's cookies
    assert login.status_code == 200, login.text
    hidden = dict(re.findall(r"name='(\w+)' value='([^']*)'", login.text))
    back = httpx.post(url + "/dev/oidc/authorize", data={**hidden, "email": email}, timeout=30)
    assert back.status_code == 302, back.text
    done = client.get(back.headers["location"].removeprefix(url))
    assert done.status_code == 303, done.text
    assert done.headers["location"] == next_path
    return client


def api_session(site: Site, email: str) -> Api:
    """An API caller (bearer session) for ``email``."""
    return Api(site.srv, session(site.srv, email))
