"""THE permission matrix, walked over the real server's routes: every (role x endpoint) pair.

The caller ``none`` is signed in with no role in an existing members-only project: for every
project-scoped endpoint it gets 404 ``unknown-project``, exactly the answer (status and body) to the
same request for a project that is missing — the "project missing" column.

Endpoints are discovered from the running server (every route guarded by ``require``) and
the expected outcome from its permission table. A new protected endpoint joins by adding one
sample request to ``SAMPLES``; a route without one fails the test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_assay
from tests.integration import brokerkit
from tests.integration.accesskit import (
    Api,
    admin_api,
    fresh_database,
    grant,
    issuer,
    new_project,
    release_policy,
    session,
    start,
    unique,
)
from tests.integration.conftest import ServerProcess

RANK = {"authenticated": 0, "viewer": 1, "publisher": 2, "policy_writer": 3, "admin": 4, "server_admin": 5}
CALLERS = ["none", "viewer", "publisher", "policy_writer", "admin", "server_admin"]


@dataclass
class Kit:
    """Signed material made once per module: a key pair, an artifact and its Sigstore bundle."""

    public_pem: str
    artifact: bytes
    bundle: bytes
    key_file: str = ""

    @property
    def bundle_digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.bundle).hexdigest()

    @property
    def artifact_digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.artifact).hexdigest()


@dataclass
class Ctx:
    """One (caller, endpoint) case: a fresh project, the caller's API and the administrator's."""

    srv: ServerProcess
    admin: Api
    caller: Api
    email: str
    project: str
    kit: Kit

    def fresh_caller(self) -> Api:
        self.caller = Api(self.srv, session(self.srv, self.email))
        return self.caller


@dataclass
class Req:
    """What a sample sends: a JSON body or raw bytes, a query string, headers and the path's other parameters."""

    body: Any = None
    content: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    path: dict[str, str] = field(default_factory=dict)


# (method, path) -> prepare(ctx) -> a JSON body, None, or a Req; the path's {project} is ctx.project.
Sample = Callable[[Ctx], Any]

POLICY = release_policy("release.pub")
ARTIFACT = {"name": "app.bin", "version": "1.0"}


def _evidence_stored(ctx: Ctx) -> Req:
    """The administrator stored the bundle (unverified: the project trusts no key yet)."""
    r = ctx.admin("POST", f"/api/v1/projects/{ctx.project}/evidence", content=ctx.kit.bundle,
                  params={"accept": "unverified"})  # fmt: skip
    assert r.status_code == 201, r.text
    return Req(path={"digest": ctx.kit.bundle_digest})


def _publishable(ctx: Ctx) -> Req:
    """Trust, repository policy and verified evidence set by the administrator: the artifact passes the policy."""
    base = f"/api/v1/projects/{ctx.project}"
    ctx.admin.ok("PUT", f"{base}/trust", {"keys": [ctx.kit.public_pem]})
    ctx.admin.ok("PUT", f"{base}/repository/policy", {"policy": POLICY, "files": {"release.pub": ctx.kit.public_pem}})
    r = ctx.admin("POST", f"{base}/evidence", content=ctx.kit.bundle)
    assert r.status_code == 201, r.text
    return Req(content=ctx.kit.artifact, path=dict(ARTIFACT))


def _published(ctx: Ctx) -> Req:
    """An artifact version the administrator published."""
    _publishable(ctx)
    r = ctx.admin("PUT", f"/api/v1/projects/{ctx.project}/artifacts/app.bin/1.0", content=ctx.kit.artifact)
    assert r.status_code == 201, r.text
    return Req(path=dict(ARTIFACT))


def _own_token(ctx: Ctx) -> str:
    made = ctx.caller("POST", f"/api/v1/projects/{ctx.project}/tokens", {"role": "viewer"})
    if made.status_code != 201:
        made = ctx.admin("POST", f"/api/v1/projects/{ctx.project}/tokens", {"role": "viewer"})
    return str(made.json()["id"])


def _other_member(ctx: Ctx) -> dict[str, str]:
    email = unique("member") + "@example.com"
    grant(ctx.admin, ctx.project, email, "viewer")
    return {"issuer": issuer(ctx.srv), "subject": email}


def _profile_doc(ctx: Ctx) -> str:
    import json

    rule = {"name": "signed", "signature": {"authorities": {"keys": [ctx.kit.public_pem]}}}
    return json.dumps(
        {"apiVersion": "assay.dev/v1", "kind": "Profile", "metadata": {"name": "release"},
         "spec": {"interval": "1h", "rules": [rule]}}
    )  # fmt: skip


def _entity(ctx: Ctx) -> Req:
    """An entity the administrator registered."""
    made = ctx.admin.ok("POST", f"/api/v1/projects/{ctx.project}/entities", {"kind": "blob", "name": "app.bin"})
    return Req(path={"entity_id": str(made["id"])})


def _profile(ctx: Ctx) -> Req:
    """A profile the administrator applied."""
    r = ctx.admin("POST", f"/api/v1/projects/{ctx.project}/profiles", content=_profile_doc(ctx).encode())
    assert r.status_code == 201, r.text
    return Req(path={"name": "release"})


def _sink(ctx: Ctx) -> Req:
    """An alert sink the administrator configured."""
    ctx.admin.ok("POST", f"/api/v1/projects/{ctx.project}/sinks", {"name": "hook", "kind": "webhook",
                 "url": "http://127.0.0.1:9/hook"})  # fmt: skip
    return Req(path={"name": "hook"})


def _tuf_ready(ctx: Ctx) -> Any:
    """A TUF repository the administrator initialised (root v1, targets v1)."""
    from tests.integration.tufkit import init_in_process

    return init_in_process(ctx.admin, ctx.project)


def _tuf_target(ctx: Ctx) -> Req:
    """A published target: its bytes uploaded, then named by targets v2."""
    from tuf.api.metadata import TargetFile

    signed = _tuf_ready(ctx)
    ctx.admin("PUT", f"/api/v1/projects/{ctx.project}/tuf/blobs", content=b"matrix target")
    body = signed.next_targets(targets={"t.txt": TargetFile.from_data("t.txt", b"matrix target", ["sha256"])})
    assert ctx.admin("PUT", f"/api/v1/projects/{ctx.project}/tuf/roles/targets", content=body).status_code == 201
    return Req(path={"path:path": hashlib.sha256(b"matrix target").hexdigest() + ".t.txt"})


def _tuf_pending(ctx: Ctx) -> Req:
    """A targets version short of its threshold, kept pending (the root asks for 2 targets signatures)."""
    signed = _tuf_ready(ctx)
    signed.root.signed.roles["targets"].threshold = 2
    from securesystemslib.signer import CryptoSigner

    second = CryptoSigner.generate_ecdsa()
    signed.root.signed.add_key(second.public_key, "targets")
    r = ctx.admin("PUT", f"/api/v1/projects/{ctx.project}/tuf/root", content=signed.next_root())
    assert r.status_code == 201, r.text
    r = ctx.admin("PUT", f"/api/v1/projects/{ctx.project}/tuf/roles/targets", content=signed.next_targets(),
                  params={"partial": "true"})  # fmt: skip
    assert r.status_code == 202, r.text
    return Req(path={"role": "targets"})


def _tuf_init(ctx: Ctx) -> Any:
    from tests.integration.tufkit import build

    return build(ctx.srv.url)[1]


SAMPLES: dict[tuple[str, str], Sample] = {
    ("GET", "/api/v1/auth/whoami"): lambda c: None,
    ("DELETE", "/api/v1/auth/session"): lambda c: c.fresh_caller() and None,
    ("GET", "/api/v1/projects"): lambda c: None,
    ("POST", "/api/v1/projects"): lambda c: {"name": unique("top")},
    ("GET", "/api/v1/projects/{project}"): lambda c: None,
    ("DELETE", "/api/v1/projects/{project}"): lambda c: None,
    ("PUT", "/api/v1/projects/{project}/visibility"): lambda c: {"visibility": "public"},
    ("POST", "/api/v1/projects/{project}/children"): lambda c: {"name": unique("child")},
    ("GET", "/api/v1/projects/{project}/grants"): lambda c: None,
    ("POST", "/api/v1/projects/{project}/grants"): lambda c: {
        "issuer": issuer(c.srv),
        "subject": unique("new") + "@example.com",
        "role": "viewer",
    },
    ("POST", "/api/v1/projects/{project}/grants/revoke"): _other_member,
    ("POST", "/api/v1/identities/remove"): _other_member,
    ("GET", "/api/v1/projects/{project}/tokens"): lambda c: None,
    ("POST", "/api/v1/projects/{project}/tokens"): lambda c: {"role": "viewer", "name": "matrix"},
    ("POST", "/api/v1/projects/{project}/tokens/{token_id}/revoke"): lambda c: None,
    ("GET", "/api/v1/projects/{project}/audit"): lambda c: None,
    ("GET", "/api/v1/audit"): lambda c: None,
    ("GET", "/api/v1/audit/anchors"): lambda c: None,
    ("POST", "/api/v1/audit/anchor"): lambda c: None,
    # the evidence store
    ("POST", "/api/v1/projects/{project}/evidence"): lambda c: Req(
        content=c.kit.bundle, params={"accept": "unverified"}
    ),
    ("GET", "/api/v1/projects/{project}/evidence"): lambda c: Req(params={"status": "unverified"}),
    ("GET", "/api/v1/projects/{project}/evidence/{digest}"): _evidence_stored,
    ("GET", "/api/v1/projects/{project}/graph"): lambda c: Req(params={"subject": c.kit.artifact_digest}),
    ("GET", "/api/v1/projects/{project}/trust"): lambda c: None,
    ("PUT", "/api/v1/projects/{project}/trust"): lambda c: {"keys": [c.kit.public_pem]},
    ("PUT", "/api/v1/projects/{project}/retention"): lambda c: {"unverifiedRetentionDays": 30},
    # the artifact repository
    ("PUT", "/api/v1/projects/{project}/repository/policy"): lambda c: {
        "policy": POLICY,
        "files": {"release.pub": c.kit.public_pem},
    },
    ("PUT", "/api/v1/projects/{project}/artifacts/{name}/{version}"): _publishable,
    ("GET", "/api/v1/projects/{project}/artifacts/{name}/{version}"): _published,
    ("GET", "/api/v1/projects/{project}/artifacts/{name}/{version}/vsa"): _published,
    ("GET", "/api/v1/projects/{project}/artifacts/{name}"): _published,
    ("DELETE", "/api/v1/projects/{project}/artifacts/{name}/{version}"): _published,
    # profiles: entities, profiles, status, history, sinks and alerts
    ("GET", "/api/v1/projects/{project}/entities"): lambda c: None,
    ("POST", "/api/v1/projects/{project}/entities"): lambda c: {"kind": "blob", "name": "app.bin"},
    ("DELETE", "/api/v1/projects/{project}/entities/{entity_id}"): _entity,
    ("GET", "/api/v1/projects/{project}/profiles"): lambda c: None,
    ("POST", "/api/v1/projects/{project}/profiles"): lambda c: Req(content=_profile_doc(c).encode()),
    ("GET", "/api/v1/projects/{project}/profiles/{name}"): _profile,
    ("DELETE", "/api/v1/projects/{project}/profiles/{name}"): _profile,
    ("GET", "/api/v1/projects/{project}/profiles/{name}/status"): _profile,
    ("GET", "/api/v1/projects/{project}/history"): lambda c: Req(params={"status": "failure"}),
    ("GET", "/api/v1/projects/{project}/sinks"): lambda c: None,
    ("POST", "/api/v1/projects/{project}/sinks"): lambda c: {
        "name": "hook",
        "kind": "webhook",
        "url": "http://127.0.0.1:9/hook",
    },
    ("DELETE", "/api/v1/projects/{project}/sinks/{name}"): _sink,
    ("GET", "/api/v1/projects/{project}/alerts"): lambda c: None,
    # TUF repositories
    ("GET", "/tuf/{project}/{filename}"): lambda c: _tuf_ready(c) and Req(path={"filename": "1.root.json"}),
    ("GET", "/tuf/{project}/targets/{path:path}"): _tuf_target,
    ("GET", "/api/v1/projects/{project}/tuf/status"): lambda c: _tuf_ready(c) and None,
    ("GET", "/api/v1/projects/{project}/tuf/pending/{role}"): _tuf_pending,
    ("POST", "/api/v1/projects/{project}/tuf"): _tuf_init,
    ("PUT", "/api/v1/projects/{project}/tuf/root"): lambda c: Req(content=_tuf_ready(c).next_root()),
    ("PUT", "/api/v1/projects/{project}/tuf/roles/{role}"): lambda c: Req(
        content=_tuf_ready(c).next_targets(), path={"role": "targets"}
    ),
    ("PUT", "/api/v1/projects/{project}/tuf/blobs"): lambda c: _tuf_ready(c) and Req(content=b"a target"),
    ("POST", "/api/v1/tuf/republish"): lambda c: None,
    # the registry token service's push rule
    ("PUT", "/api/v1/projects/{project}/registry/push-policy"): lambda c: {"push": "ci-only", "rules": []},
    ("GET", "/api/v1/projects/{project}/registry/push-policy"): lambda c: None,
    # the key broker
    ("GET", "/api/v1/projects/{project}/keys"): lambda c: None,
    ("POST", "/api/v1/projects/{project}/keys/{name}"): lambda c: Req(path={"name": brokerkit.KEY}),
    ("GET", "/api/v1/projects/{project}/keys/{name}"): lambda c: Req(path=brokerkit.key(c)),
    ("PUT", "/api/v1/projects/{project}/keys/{name}/policy"): lambda c: Req(
        path=brokerkit.key(c), content=brokerkit.policy_bundle(c)
    ),
    ("GET", "/api/v1/projects/{project}/keys/{name}/policy"): lambda c: Req(path=brokerkit.with_policy(c)),
    ("POST", "/api/v1/projects/{project}/keys/{name}/unwrap"): lambda c: Req(
        path=brokerkit.with_policy(c), body=brokerkit.unwrap_body(c)
    ),
    ("POST", "/api/v1/projects/{project}/keys/{name}/rewrap"): lambda c: Req(
        path=brokerkit.key(c), body=brokerkit.rewrap_body(c)
    ),
    ("GET", "/api/v1/projects/{project}/keys/{name}/releases"): lambda c: Req(path=brokerkit.key(c)),
}
PLACEHOLDERS = {
    "entity_id": "1",
    "token_id": "0" * 16,
    "digest": "sha256:" + "0" * 64,
    "name": "app.bin",
    "version": "1.0",
    "filename": "timestamp.json",
    "path:path": "0" * 64 + ".t.txt",
    "role": "targets",
}


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    w = tmp_path_factory.mktemp("kit")
    assert run_assay("keygen", "--output-prefix", "release", cwd=w).code == 0
    (w / "app.bin").write_bytes(b"matrix release 1.0")
    r = run_assay("sign-blob", "app.bin", "--key", "release.key", cwd=w)
    assert r.code == 0, r.err
    bundle = (w / "app.bin.sigstore.json").read_bytes()
    return Kit((w / "release.pub").read_text(), b"matrix release 1.0", bundle, str(w / "release.key"))


def _send(ctx: Ctx, method: str, template: str, prepared: Any, project: str | None = None) -> Any:
    """Send a sample's request as the caller (a bare value is the JSON body), to ``project`` if given."""
    req = prepared if isinstance(prepared, Req) else Req(body=prepared)
    path = template.replace("{project}", project or ctx.project)
    for key, value in req.path.items():
        path = path.replace("{" + key + "}", value)
    if "{token_id}" in path:
        path = path.replace("{token_id}", PLACEHOLDERS["token_id"] if project else _own_token(ctx))
    assert "{" not in path, f"sample for {method} {template} leaves a path parameter unset"
    extra: dict[str, Any] = {"params": req.params, "headers": req.headers}
    if req.content is not None:
        extra["content"] = req.content
    return ctx.caller(method, path, req.body, **extra)


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


def _renamed(doc: Any, old: str, new: str) -> Any:
    """``doc`` with the project name ``old`` replaced by ``new`` in its strings."""
    return {k: v.replace(old, new) if isinstance(v, str) else v for k, v in doc.items()}


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
def test_every_role_on_every_endpoint(matrix_server: ServerProcess, kit: Kit, caller: str) -> None:
    srv = matrix_server
    routes, table = _routes(srv)
    missing = [(r["method"], r["path"]) for r in routes if (r["method"], r["path"]) not in SAMPLES]
    assert not missing, f"protected routes without a sample request in SAMPLES: {missing}"
    assert len(routes) >= len(SAMPLES) - 1
    admin = admin_api(srv)
    email = "admin@example.com" if caller == "server_admin" else unique(caller) + "@example.com"
    failures = []
    # one session for the caller across the routes: roles are per project and each route gets a fresh project (a
    # sample that ends a session, DELETE /auth/session, ends a fresh one of its own)
    caller_api = Api(srv, session(srv, email))
    for route in routes:
        project = new_project(admin)
        if caller in RANK and caller != "server_admin":
            grant(admin, project, email, caller)
        ctx = Ctx(srv, admin, caller_api, email, project, kit)
        prepared = SAMPLES[(route["method"], route["path"])](ctx)
        r = _send(ctx, route["method"], route["path"], prepared)
        allowed = _allowed(table, caller, route["action"])
        where = f"{caller} {route['method']} {route['path']}"
        if allowed and not 200 <= r.status_code < 300:
            failures.append(f"{where}: expected 2xx, got {r.status_code} {r.text}")
        if not allowed and caller == "none" and "{project}" in route["path"]:
            # no role, project exists: the project does not exist for this caller ...
            if (r.status_code, r.json().get("reason")) != (404, "unknown-project"):
                failures.append(f"{where}: expected 404 unknown-project, got {r.status_code} {r.text}")
            # ... answered exactly as the same request to a project that is missing
            gone = unique("gone")
            m = _send(ctx, route["method"], route["path"], prepared, project=gone)
            if (m.status_code, m.json()) != (r.status_code, _renamed(r.json(), project, gone)):
                failures.append(f"{where}: project missing answered {m.status_code} {m.text}, exists {r.text}")
        elif not allowed:
            reason = r.json().get("reason") if r.status_code == 403 else None
            if reason not in ("insufficient-role", "not-server-admin"):
                failures.append(f"{where}: expected 403, got {r.status_code} {r.text}")
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_every_endpoint_needs_credentials(matrix_server: ServerProcess) -> None:
    srv = matrix_server
    routes, _ = _routes(srv)
    project = new_project(admin_api(srv))
    for route in routes:
        path = route["path"].replace("{project}", project)
        for key, value in PLACEHOLDERS.items():
            path = path.replace("{" + key + "}", value)
        r = Api(srv, None)(route["method"], path, {})
        assert r.status_code == 401, (route, r.text)
        assert r.json()["reason"] == "credentials-missing"


@pytest.mark.slow
def test_a_public_project_opens_only_its_public_reads_to_anyone(matrix_server: ServerProcess, kit: Kit) -> None:
    """No credentials on a public project: 2xx on the routes of the public reads, 401 on every other route."""
    srv = matrix_server
    routes, table = _routes(srv)
    admin = admin_api(srv)
    anonymous = Api(srv, None)
    failures, opened = [], set()
    for route in routes:
        project = new_project(admin)
        admin.ok("PUT", f"/api/v1/projects/{project}/visibility", {"visibility": "public"})
        ctx = Ctx(srv, admin, anonymous, "nobody@example.com", project, kit)
        prepared = SAMPLES[(route["method"], route["path"])](ctx)
        ctx.caller = anonymous  # a sample may have logged the caller in; this case has no credentials
        r = _send(ctx, route["method"], route["path"], prepared)
        where = f"anonymous {route['method']} {route['path']} ({route['action']})"
        if table[route["action"]]["public"]:
            opened.add(route["action"])
            if not 200 <= r.status_code < 300:
                failures.append(f"{where}: expected 2xx, got {r.status_code} {r.text}")
        elif r.status_code != 401 or r.json().get("reason") != "credentials-missing":
            failures.append(f"{where}: expected 401 credentials-missing, got {r.status_code} {r.text}")
    assert not failures, "\n".join(failures)
    assert opened == {"artifact.read", "evidence.read", "tuf.read"}


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
    # a public project opens exactly these reads, and never a write
    assert {a for a, row in table.items() if row["public"]} == {"artifact.read", "evidence.read", "tuf.read"}
    assert _allowed(table, "publisher", "tuf.sign") and not _allowed(table, "viewer", "tuf.sign")
    assert _allowed(table, "policy_writer", "tuf.delegate") and not _allowed(table, "publisher", "tuf.delegate")
    assert _allowed(table, "admin", "tuf.root") and not _allowed(table, "policy_writer", "tuf.root")
    assert not any(row["write"] for row in table.values() if row["public"])


def test_readme_matrix_matches_the_table(matrix_server: ServerProcess) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    _, table = _routes(matrix_server)
    for action, row in table.items():
        line = next((x for x in readme.splitlines() if x.startswith(f"| `{action}` | {row['role']} |")), None)
        assert line is not None, f"README matrix lacks {action} -> {row['role']}"
        public = line.rstrip(" |").rsplit("|", 1)[1].strip()
        assert public == ("✓" if row["public"] else "–"), f"README's public column for {action}: {public}"
