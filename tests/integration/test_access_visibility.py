"""Project visibility (issue 17): a public project opens artifact and evidence reads to anyone, nothing else.

The matrix test walks every route anonymously on a public project; these tests follow one
project through the CLI: anonymous fetch refused, the admin makes it public, anonymous fetch and
search work, writes and member data stay closed, children stay members-only, refusals are audited.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from assay.store.db import MIGRATIONS, database_url, open_engine
from assay.store.schema import projects
from tests.conftest import run_assay
from tests.integration.accesskit import (
    Api,
    ProjectServer,
    audit_rows,
    project_server,
    session,
    trust_keys_and_policy,
)

P = "acme"
CI = "ci@acme.test"
ARTIFACT = b"public release 1.0"


@pytest.fixture
def published(tmp_path: Path, database: str | None) -> Iterator[tuple[ProjectServer, Path]]:
    """Project ``acme`` (members-only) with a trusted key, a repository policy and ``app.bin@1.0`` published."""
    ps = project_server(tmp_path, database, P, CI)
    try:
        w = tmp_path / "work"
        w.mkdir()
        trust_keys_and_policy(ps, w)
        (w / "app.bin").write_bytes(ARTIFACT)
        assert run_assay("sign-blob", "app.bin", "--key", "k1.key", cwd=w).code == 0
        r = run_assay("publish", "app.bin", "--project", P, "--name", "app.bin", "--version", "1.0",
                      "--bundle", "app.bin.sigstore.json", "--server", ps.url, cwd=w,
                      env={"ASSAY_TOKEN": str(ps.publisher.bearer)})  # fmt: skip
        assert r.code == 0, r.err
        yield ps, w
    finally:
        ps.srv.stop()


def _as(ps: ProjectServer, w: Path, who: Api | None, *args: str):
    """The CLI as ``who`` (None: no credentials at all: no token and an empty credentials store)."""
    env = {"ASSAY_TOKEN": str(who.bearer) if who else "", "XDG_CONFIG_HOME": str(w / "empty-config")}
    return run_assay(*args, "--server", ps.url, cwd=w, env=env)


def _reason(r) -> str:  # type: ignore[no-untyped-def]
    return str(r.json().get("reason"))


def test_public_visibility_end_to_end(published: tuple[ProjectServer, Path]) -> None:
    ps, w = published
    anonymous = Api(ps.srv, None)
    artifact = f"/api/v1/projects/{P}/artifacts/app.bin/1.0"
    subject = "sha256:" + hashlib.sha256(ARTIFACT).hexdigest()

    # members-only (the default): no credentials, no artifact
    assert ps.admin.ok("GET", f"/api/v1/projects/{P}")["visibility"] == "members"
    r = anonymous("GET", artifact)
    assert r.status_code == 401 and _reason(r) == "credentials-missing"
    r = _as(ps, w, None, "fetch", f"{P}/app.bin@1.0", "--out", "anon.bin")
    assert r.code == 2 and "error[credentials-missing]" in r.err and not (w / "anon.bin").exists()

    # only an admin changes visibility; bad values are refused with a reason
    r = _as(ps, w, ps.publisher, "project", "set", P, "--visibility", "public")
    assert r.code == 2 and "error[insufficient-role]" in r.err, r.err
    r = ps.publisher("PUT", f"/api/v1/projects/{P}/visibility", {"visibility": "public"})
    assert r.status_code == 403 and _reason(r) == "insufficient-role"
    for bad in ("world", "", None, ["public"], "Public"):
        r = ps.admin("PUT", f"/api/v1/projects/{P}/visibility", {"visibility": bad})
        assert r.status_code == 400 and _reason(r) == "bad-visibility", (bad, r.text)
        assert "visibility" in r.json()["message"]
    r = _as(ps, w, ps.admin, "project", "set", P, "--visibility", "everyone")
    assert r.code == 2 and "error[bad-visibility]" in r.err
    assert anonymous("GET", artifact).status_code == 401  # still members-only after the refusals

    r = _as(ps, w, ps.admin, "project", "set", P, "--visibility", "public")
    assert r.code == 0 and "visibility public" in r.out, r.err
    assert ps.admin.ok("GET", f"/api/v1/projects/{P}")["visibility"] == "public"

    # anyone reads: fetch verifies digest and VSA without credentials; evidence search finds the bundle and VSA
    r = _as(ps, w, None, "fetch", f"{P}/app.bin@1.0", "--out", "anon.bin")
    assert r.code == 0, r.err
    assert (w / "anon.bin").read_bytes() == ARTIFACT
    r = _as(ps, w, None, "evidence", "search", "--project", P, "--subject", subject, "--json")
    assert r.code == 0, r.err
    assert len(r.out.splitlines()) == 2
    vsa = anonymous("GET", f"{artifact}/vsa")
    assert vsa.status_code == 200 and json.loads(vsa.content)
    assert anonymous("GET", f"/api/v1/projects/{P}/artifacts/app.bin").json()["versions"][0]["version"] == "1.0"

    # everything else stays closed to anonymous callers
    for method, path in [
        ("PUT", f"/api/v1/projects/{P}/artifacts/app.bin/2.0"),
        ("DELETE", artifact),
        ("POST", f"/api/v1/projects/{P}/evidence"),
        ("GET", f"/api/v1/projects/{P}"),
        ("GET", f"/api/v1/projects/{P}/grants"),
        ("GET", f"/api/v1/projects/{P}/tokens"),
        ("GET", f"/api/v1/projects/{P}/audit"),
        ("PUT", f"/api/v1/projects/{P}/visibility"),
    ]:
        r = anonymous(method, path, content=b"x") if method in ("PUT", "POST") else anonymous(method, path)
        assert r.status_code == 401 and _reason(r) == "credentials-missing", (method, path, r.text)

    # a signed-in stranger reads like anyone but may not write; a token of another project reads too
    stranger = Api(ps.srv, session(ps.srv, "stranger@example.com"))
    assert stranger("GET", artifact).status_code == 200
    r = stranger("PUT", f"{artifact[:-3]}2.0", content=ARTIFACT)
    assert r.status_code == 403 and _reason(r) == "insufficient-role"
    r = stranger("GET", f"/api/v1/projects/{P}/grants")
    assert r.status_code == 403 and _reason(r) == "insufficient-role"
    ps.admin.ok("POST", "/api/v1/projects", {"name": "other"})
    other = Api(ps.srv, ps.admin.ok("POST", "/api/v1/projects/other/tokens", {"role": "viewer"})["token"])
    assert other("GET", artifact).status_code == 200
    r = other("GET", f"/api/v1/projects/{P}/grants")
    assert r.status_code == 403 and _reason(r) == "token-wrong-project"
    r = Api(ps.srv, "assay_t_" + "0" * 16 + "_" + "A" * 43)("GET", artifact)
    assert r.status_code == 401 and _reason(r) == "token-invalid"  # bad credentials are never "anonymous"

    # a child of a public project is members-only unless set itself
    ps.admin.ok("POST", f"/api/v1/projects/{P}/children", {"name": "acme-web"})
    r = anonymous("GET", "/api/v1/projects/acme-web/evidence")
    assert r.status_code == 401 and _reason(r) == "credentials-missing"
    assert ps.admin.ok("GET", "/api/v1/projects/acme-web")["visibility"] == "members"

    # the changes and the refusals are in the audit log
    rows = [r for r in audit_rows(ps.admin) if r["action"] == "project.admin"]
    results = [(r["actor"].split(" ")[0], r["result"]) for r in rows]
    assert (CI, "refused:403:insufficient-role") in results
    assert ("admin@example.com", "refused:400:bad-visibility") in results
    assert any(r["result"] == "ok" and r["target"] == f"project {P} visibility public" for r in rows)
    assert any(r["actor"] == "anonymous" and r["result"] == "refused:401:credentials-missing" for r in rows)

    # back to members-only: closed again at once
    assert ps.admin.ok("PUT", f"/api/v1/projects/{P}/visibility", {"visibility": "members"})["visibility"] == "members"
    r = anonymous("GET", artifact)
    assert r.status_code == 401 and _reason(r) == "credentials-missing"


def test_create_public_project(published: tuple[ProjectServer, Path]) -> None:
    ps, w = published
    r = _as(ps, w, ps.admin, "project", "create", "releases", "--public")
    assert r.code == 0 and "visibility public" in r.out, r.err
    assert Api(ps.srv, None)("GET", "/api/v1/projects/releases/evidence").status_code == 200
    r = ps.admin("POST", "/api/v1/projects", {"name": "odd", "visibility": "world"})
    assert r.status_code == 400 and _reason(r) == "bad-visibility"
    r = ps.admin("GET", "/api/v1/projects/odd")
    assert r.status_code == 404  # nothing created
    # a public project's name does not leak an unknown one: both are 401 without credentials
    r = Api(ps.srv, None)("GET", "/api/v1/projects/no-such/evidence")
    assert r.status_code == 401 and _reason(r) == "credentials-missing"


def test_migration_keeps_existing_projects_members_only(tmp_path: Path, database: str | None) -> None:
    from alembic import command
    from alembic.config import Config

    engine = open_engine(database_url(database, tmp_path))
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))

    def to(revision: str, down: bool = False) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(cfg, revision)

    try:
        to("0003_evidence")
        with engine.begin() as conn:
            conn.execute(insert(projects).values(name="old", created=1, created_by="x"))
        to("0004_visibility")
        with engine.connect() as conn:
            assert conn.execute(select(projects.c.visibility).where(projects.c.name == "old")).scalar() == "members"
        to("0003_evidence", down=True)
        to("head")
        with engine.connect() as conn:
            assert conn.execute(select(projects.c.visibility)).scalars().all() == ["members"]
    finally:
        engine.dispose()
