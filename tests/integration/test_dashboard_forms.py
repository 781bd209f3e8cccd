"""The dashboard's write forms over HTTP (SQLite and PostgreSQL): Profiles → New profile → Artifact Security →
Apply and Register an entity. Refusals show the reason on the page and write nothing: a missing CSRF token
(``csrf-token-invalid``), a viewer (``insufficient-role``), an interval below the minimum
(``profile-interval-too-short``), a bad repository (``usage``), an image in a registry that does not answer
(``entity-registry-unreachable``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import run_assay
from tests.integration.accesskit import fresh_database
from tests.integration.dashboardkit import PROJECT, VIEWER, csrf_of, ui_login
from tests.integration.profilekit import fast_server


@pytest.fixture(params=["sqlite", "postgresql"])
def srv(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    from tests.integration.accesskit import admin_api, grant

    gen = fresh_database(request.param)
    s = fast_server(tmp_path, next(gen))
    try:
        admin = admin_api(s)
        admin.ok("POST", "/api/v1/projects", {"name": PROJECT})
        grant(admin, PROJECT, VIEWER, "viewer")
        yield s
    finally:
        s.stop()
        gen.close()


FORM = f"/ui/projects/{PROJECT}/profiles/new/artifact-security"


def _values(**over: str) -> dict[str, str]:
    base = {"repository": "https://github.com/acme/app", "branch": "main", "workflow": ".github/workflows/release.yml",
            "issuer": "https://token.actions.githubusercontent.com", "runner_environment": "github-hosted",
            "interval": "5m", "alert": "on", "name": "artifact-security"}  # fmt: skip
    return {**base, **over}


def _refused(r, status: int, reason: str) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["x-assay-reason"] == reason
    assert f'<code class="reason">{reason}</code>' in r.text


def test_apply_artifact_security_from_the_template(srv, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with closing(ui_login(srv.url)) as c:
        assert "Artifact Security" in c.get(f"/ui/projects/{PROJECT}/profiles/new").text
        page = c.get(FORM)
        assert page.status_code == 200 and '<label for="repository">' in page.text
        token = csrf_of(page.text)
        _refused(c.post(FORM, data=_values()), 403, "csrf-token-invalid")
        _refused(c.post(FORM, data={**_values(interval="1ms"), "csrf": token}), 400, "profile-interval-too-short")
        _refused(c.post(FORM, data={**_values(repository="nope"), "csrf": token}), 400, "usage")
        _refused(c.post(FORM, data={**_values(alert="loud"), "csrf": token}), 400, "profile-bad-alert")
        assert "No profiles yet" in c.get(f"/ui/projects/{PROJECT}/profiles").text  # nothing half-written
        done = c.post(FORM, data={**_values(), "csrf": token})
        assert done.status_code == 303, done.text[:500]
        shown = c.get(done.headers["location"]).text
        assert "version 1 applied" in shown and "artifact-security" in shown
    init = run_assay("profile", "init", "artifact-security", "--repository", "https://github.com/acme/app")
    from tests.integration.accesskit import admin_api

    stored = admin_api(srv).ok("GET", f"/api/v1/projects/{PROJECT}/profiles/artifact-security")
    assert stored["document"] == init.out  # the same template code as the CLI
    with closing(ui_login(srv.url, VIEWER)) as v:
        page = v.get(FORM)
        assert (
            page.status_code == 200
            and "policy_writer" in page.text
            and '<form method="post" action="/ui/projects' not in page.text
        )
        _refused(v.post(FORM, data={**_values(name="x"), "csrf": csrf_of(page.text)}), 403, "insufficient-role")


def test_register_an_entity(srv, registry) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.conftest import push_image

    push_image(registry.host, "acme/app", "latest", b"one")
    form = f"/ui/projects/{PROJECT}/entities/new"
    with closing(ui_login(srv.url)) as c:
        page = c.get(form)
        assert page.status_code == 200 and '<label for="name">' in page.text
        token = csrf_of(page.text)
        bad = {"csrf": token, "kind": "image", "name": "127.0.0.1:9/acme/app", "tags": "latest", "insecure": "1"}
        _refused(c.post(form, data=bad), 400, "entity-registry-unreachable")
        _refused(c.post(form, data={**bad, "name": "acme/app:latest"}), 400, "entity-bad-name")
        assert "No entities yet" in c.get(f"/ui/projects/{PROJECT}/entities").text
        ok = c.post(form, data={**bad, "name": f"{registry.host}/acme/app"})
        assert ok.status_code == 303, ok.text[:500]
        assert f"{registry.host}/acme/app" in c.get(ok.headers["location"]).text
