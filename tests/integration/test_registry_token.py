"""assay as the token server of Debian's docker-registry (distribution 2.8): real registry, skopeo, assay's
own image commands, on SQLite and PostgreSQL. The registry is configured by ``assay registry auth-config``."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography import x509

from tests.conftest import require_tool, run_assay
from tests.integration.accesskit import Api, admin_api, fresh_database, grant, new_project, session
from tests.integration.conftest import RegistryProcess, ServerProcess, build_image, dev_token, tar_layer

SERVICE = "registry.test"
CI_REPO = "myorg/myapp"


@dataclass
class Env:
    """One assay server, one token-auth registry trusting it, a source image in an OCI layout."""

    srv: ServerProcess
    reg: RegistryProcess
    admin: Api
    tmp: Path
    layout: Path
    bundle: Path

    def token_for(self, project: str, role: str) -> str:
        """An API token of ``role`` made by a fresh member holding that role."""
        email = f"{role}-{project}@example.com"
        grant(self.admin, project, email, role)
        api = Api(self.srv, session(self.srv, email))
        return str(api.ok("POST", f"/api/v1/projects/{project}/tokens", {"role": role, "name": role})["token"])

    def skopeo(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([require_tool("skopeo"), *args], capture_output=True, text=True, timeout=120, check=False)

    def push(self, repo: str, creds: str | None) -> subprocess.CompletedProcess[str]:
        cred = ["--dest-creds", creds] if creds else ["--dest-no-creds"]
        return self.skopeo(
            "copy", "--dest-tls-verify=false", *cred, f"oci:{self.layout}:v1", f"docker://{self.reg.host}/{repo}"
        )

    def pull(self, repo: str, creds: str | None) -> subprocess.CompletedProcess[str]:
        cred = ["--src-creds", creds] if creds else ["--src-no-creds"]
        out = self.tmp / ("pulled-" + repo.replace("/", "_").replace(":", "_"))
        return self.skopeo("copy", "--src-tls-verify=false", *cred, f"docker://{self.reg.host}/{repo}", f"oci:{out}:x")

    def token(self, params: dict[str, Any], auth: tuple[str, str] | None = None, **kw: Any) -> httpx.Response:
        return httpx.get(self.srv.url + "/v2/token", params=params, auth=auth, timeout=10, **kw)

    def audit(self, project: str) -> list[dict[str, Any]]:
        rows = self.admin.ok("GET", f"/api/v1/projects/{project}/audit?limit=10000")["rows"]
        return [r for r in rows if r["action"] == "registry.token"]


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    require_tool("docker-registry")
    require_tool("skopeo")
    gen = fresh_database(request.param)
    database = next(gen)
    tmp = tmp_path_factory.mktemp("regtok")
    srv = ServerProcess(tmp / "data", database, extra=["--dev", "--login-rate-limit", "100000/m"])
    bundle = tmp / "bundle.pem"
    r = run_assay(
        "registry", "auth-config", "--service", SERVICE, "--server", srv.url,
        "--data-dir", str(srv.data_dir), "--out-bundle", str(bundle),
    )  # fmt: skip
    assert r.code == 0, r.err
    assert "auth:\n  token:\n" in r.out and f'realm: "{srv.url}/v2/token"' in r.out
    srv.start()
    reg = RegistryProcess(tmp / "registry", token_auth=r.out)
    try:
        reg.start()
        from assay.oci.layout import Layout

        layout = tmp / "layout"
        build_image(Layout(layout, create=True), "", "v1", [tar_layer({"app/bin": b"#!/bin/sh\necho hi\n"})])
        yield Env(srv, reg, admin_api(srv), tmp, layout, bundle)
    finally:
        reg.stop()
        srv.stop()
        gen.close()


def test_skopeo_push_and_pull_with_an_api_token(env: Env) -> None:
    project = new_project(env.admin)
    publisher = env.token_for(project, "publisher")
    anonymous = env.push(f"{project}/app:v1", None)
    assert anonymous.returncode != 0 and "denied" in anonymous.stderr + anonymous.stdout
    pushed = env.push(f"{project}/app:v1", f"ci:{publisher}")
    assert pushed.returncode == 0, pushed.stderr
    assert env.pull(f"{project}/app:v1", f"anyone:{publisher}").returncode == 0
    refused = env.pull(f"{project}/app:v1", None)
    assert refused.returncode != 0, "a members-only project is not pulled anonymously"
    # the token as the registry verified it: libtrust kid of the bundle's key, audience, lifetime, access
    r = env.token({"service": SERVICE, "scope": f"repository:{project}/app:pull,push"}, ("x", publisher))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["token"] == doc["access_token"] and doc["expires_in"] == 300 and doc["issued_at"].endswith("Z")
    header = jwt.get_unverified_header(doc["token"])
    cert = x509.load_pem_x509_certificate(env.bundle.read_bytes())
    from assay.registry.token import libtrust_kid

    assert header["alg"] == "ES256" and header["kid"] == libtrust_kid(cert.public_key())
    claims = jwt.decode(doc["token"], cert.public_key(), algorithms=["ES256"], audience=SERVICE, issuer=env.srv.url)
    assert claims["exp"] - claims["iat"] == 300 and claims["sub"] == f"publisher-{project}@example.com"
    assert claims["access"] == [{"type": "repository", "name": f"{project}/app", "actions": ["pull", "push"]}]
    rows = env.audit(project)
    assert any(row["result"] == "ok" and "granted=[repository:" in row["target"] for row in rows)
    assert all(row["address"] == "127.0.0.1" for row in rows)


def test_anonymous_pull_of_a_public_project_and_no_anonymous_push(env: Env) -> None:
    project = new_project(env.admin)
    publisher = env.token_for(project, "publisher")
    assert env.push(f"{project}/pub:v1", f"u:{publisher}").returncode == 0
    assert env.pull(f"{project}/pub:v1", None).returncode != 0
    env.admin.ok("PUT", f"/api/v1/projects/{project}/visibility", {"visibility": "public"})
    pulled = env.pull(f"{project}/pub:v1", None)
    assert pulled.returncode == 0, pulled.stderr
    assert env.push(f"{project}/pub:v2", None).returncode != 0
    r = env.token({"service": SERVICE, "scope": f"repository:{project}/pub:pull,push,delete"})
    assert _claims(r.json()["token"])["access"] == [
        {"type": "repository", "name": f"{project}/pub", "actions": ["pull"]}
    ]
    refused = [row for row in env.audit(project) if row["actor"] == "anonymous" and "partial" in row["result"]]
    assert refused and refused[-1]["result"] == "partial:insufficient-role"


def test_a_viewer_pulls_but_cannot_push_and_the_refusal_is_audited(env: Env) -> None:
    project = new_project(env.admin)
    publisher = env.token_for(project, "publisher")
    viewer = env.token_for(project, "viewer")
    assert env.push(f"{project}/app:v1", f"u:{publisher}").returncode == 0
    assert env.pull(f"{project}/app:v1", f"u:{viewer}").returncode == 0
    refused = env.push(f"{project}/app:v2", f"u:{viewer}")
    assert refused.returncode != 0 and "denied" in refused.stderr
    rows = [r for r in env.audit(project) if r["actor"].startswith(f"viewer-{project}@")]
    assert any(r["result"] == "partial:insufficient-role" and "push" in r["target"] for r in rows)
    assert not any("push" in r["target"].split("granted=")[1] for r in rows), "no push was ever granted"


def test_push_ci_only_refuses_humans_and_admits_the_matching_ci_token(env: Env) -> None:
    project = new_project(env.admin)
    publisher = env.token_for(project, "publisher")
    github = env.srv.url + "/dev/oidc/github"
    subject = f"repo:{CI_REPO}:ref:refs/heads/main"
    env.admin.ok(
        "POST", f"/api/v1/projects/{project}/grants", {"issuer": github, "subject": subject, "role": "publisher"}
    )
    # a viewer may read the rule but not set it
    viewer = env.token_for(project, "viewer")
    base = ("--server", env.srv.url, "--project", project)
    refused = run_assay("registry", "push-policy", *base, "--token", viewer, "--ci-only", "--rule", f"issuer={github}")
    assert refused.code == 2 and "insufficient-role" in refused.err
    rule = f"issuer={github},repository={CI_REPO},ref=refs/heads/main,workflow=.github/workflows/release.yml"
    r = run_assay("registry", "push-policy", *base, "--token", str(env.admin.bearer), "--ci-only", "--rule", rule)
    assert r.code == 0, r.err
    assert "push ci-only" in run_assay("registry", "push-policy", *base, "--token", viewer).out
    human = env.push(f"{project}/app:v1", f"u:{publisher}")
    assert human.returncode != 0, "a publisher's API token no longer pushes"
    admin = env.push(f"{project}/app:v1", f"u:{env.admin.bearer}")
    assert admin.returncode != 0, "not even the server administrator's session"
    ci = dev_token(env.srv, "github", repository=CI_REPO, ref="refs/heads/main")
    pushed = env.push(f"{project}/app:v1", f"github-actions:{ci}")
    assert pushed.returncode == 0, pushed.stderr
    assert env.pull(f"{project}/app:v1", f"u:{publisher}").returncode == 0, "humans still pull"
    # a token from another branch: granted nothing to push (its subject has no grant either)
    other = dev_token(env.srv, "github", repository=CI_REPO, ref="refs/heads/feature")
    assert env.push(f"{project}/app:v2", f"u:{other}").returncode != 0
    reasons = {r["result"] for r in env.audit(project)}
    assert "partial:push-ci-only" in reasons
    # the CI token with the right subject but another workflow is refused by the rule
    env.admin.ok(
        "POST", f"/api/v1/projects/{project}/grants",
        {"issuer": github, "subject": f"repo:{CI_REPO}:ref:refs/heads/dev", "role": "publisher"},
    )  # fmt: skip
    wrong = dev_token(env.srv, "github", repository=CI_REPO, ref="refs/heads/dev")
    r2 = env.token({"service": SERVICE, "scope": f"repository:{project}/app:push,pull"}, ("u", wrong))
    assert _claims(r2.json()["token"])["access"][0]["actions"] == ["pull"]
    assert "partial:push-rule-mismatch" in {r["result"] for r in env.audit(project)}


def test_revoking_a_token_or_a_grant_stops_new_registry_tokens_at_once(env: Env) -> None:
    project = new_project(env.admin)
    email = f"dev-{project}@example.com"
    grant(env.admin, project, email, "publisher")
    member = Api(env.srv, session(env.srv, email))
    made = member.ok("POST", f"/api/v1/projects/{project}/tokens", {"role": "publisher", "name": "ci"})
    assert env.push(f"{project}/app:v1", f"u:{made['token']}").returncode == 0
    member.ok("POST", f"/api/v1/projects/{project}/tokens/{made['id']}/revoke")
    refused = env.pull(f"{project}/app:v1", f"u:{made['token']}")
    assert refused.returncode != 0, "a revoked API token gets no registry token"
    r = env.token({"service": SERVICE, "scope": f"repository:{project}/app:pull"}, ("u", made["token"]))
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert r.json()["reason"] == "token-revoked" and "WWW-Authenticate" in r.headers
    # the session pulls until its grant is removed
    assert env.pull(f"{project}/app:v1", f"u:{member.bearer}").returncode == 0
    env.admin.ok(
        "POST", f"/api/v1/projects/{project}/grants/revoke", {"issuer": env.srv.url + "/dev/oidc", "subject": email}
    )
    assert env.pull(f"{project}/app:v1", f"u:{member.bearer}").returncode != 0


def test_assay_image_commands_follow_the_bearer_challenge(env: Env, tmp_path: Path) -> None:
    project = new_project(env.admin)
    publisher = env.token_for(project, "publisher")
    ref = f"{env.reg.host}/{project}/app:v1"
    assert env.push(f"{project}/app:v1", f"u:{publisher}").returncode == 0
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    creds = ("--insecure", "--registry-username", "ci", "--registry-password", publisher)
    r = run_assay("sign", ref, "--key", "k.key", *creds, cwd=tmp_path)
    assert r.code == 0, r.err
    (tmp_path / "pred.json").write_text(json.dumps({"builder": {"id": "https://ci.example"}}))
    r = run_assay(
        "attest", ref, "--key", "k.key", "--predicate", "pred.json", "--type", "slsaprovenance1", *creds, cwd=tmp_path
    )
    assert r.code == 0, r.err
    assert run_assay("verify", ref, "--key", "k.pub", *creds, cwd=tmp_path).code == 0
    tree = run_assay("tree", ref, *creds, cwd=tmp_path)
    assert tree.code == 0 and len(json.loads(tree.out)["attached"]) >= 2
    copied = run_assay("copy", ref, f"{env.reg.host}/{project}/copy:v1", "--key", "k.pub", *creds, cwd=tmp_path)
    assert copied.code == 0, copied.err
    # the same credentials from a Docker config file
    auth = base64.b64encode(f"ci:{publisher}".encode()).decode()
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text(json.dumps({"auths": {env.reg.host: {"auth": auth}}}))
    docker = {"DOCKER_CONFIG": str(tmp_path / "docker")}
    via_config = run_assay(
        "verify", f"{env.reg.host}/{project}/copy:v1", "--key", "k.pub", "--insecure", cwd=tmp_path, env=docker
    )
    assert via_config.code == 0, via_config.err
    # without credentials the registry refuses, and the command says so (environment, exit 3)
    bare = run_assay("verify", ref, "--key", "k.pub", "--insecure", cwd=tmp_path)
    assert bare.code == 3 and "registry-auth-failed" in bare.err
    viewer = env.token_for(project, "viewer")
    denied = run_assay(
        "sign",
        ref,
        "--key",
        "k.key",
        "--insecure",
        "--registry-username",
        "v",
        "--registry-password",
        viewer,
        cwd=tmp_path,
    )
    assert denied.code != 0, "a viewer cannot attach a signature"


def test_oauth_password_grant_refresh_token_and_its_revocation(env: Env) -> None:
    project = new_project(env.admin)
    email = f"oauth-{project}@example.com"
    grant(env.admin, project, email, "publisher")
    member = Api(env.srv, session(env.srv, email))
    made = member.ok("POST", f"/api/v1/projects/{project}/tokens", {"role": "publisher", "name": "oauth"})
    form = {
        "grant_type": "password", "service": SERVICE, "client_id": "skopeo", "access_type": "offline",
        "scope": f"repository:{project}/app:pull repository:{project}/other:push", "username": "u",
        "password": made["token"],
    }  # fmt: skip
    r = httpx.post(env.srv.url + "/v2/token", data=form, timeout=10)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["scope"] == f"repository:{project}/app:pull repository:{project}/other:push"
    refresh = doc["refresh_token"]
    again = httpx.post(
        env.srv.url + "/v2/token",
        data={
            "grant_type": "refresh_token",
            "service": SERVICE,
            "refresh_token": refresh,
            "scope": f"repository:{project}/app:pull",
        },
        timeout=10,
    )
    assert again.status_code == 200 and _claims(again.json()["access_token"])["access"][0]["actions"] == ["pull"]
    wrong_service = httpx.post(
        env.srv.url + "/v2/token", data={"grant_type": "refresh_token", "service": "other", "refresh_token": refresh}
    )
    assert wrong_service.status_code == 401
    get = env.token({"service": SERVICE, "offline_token": "true"}, ("u", made["token"]))
    assert get.status_code == 200 and get.json()["refresh_token"]
    member.ok("POST", f"/api/v1/projects/{project}/tokens/{made['id']}/revoke")
    gone = httpx.post(
        env.srv.url + "/v2/token", data={"grant_type": "refresh_token", "service": SERVICE, "refresh_token": refresh}
    )
    assert gone.status_code == 401 and gone.json()["reason"] == "token-revoked"


def test_catalog_only_for_a_caller_who_reads_every_project(env: Env) -> None:
    project = new_project(env.admin)
    publisher = env.token_for(project, "publisher")
    scope = {"service": SERVICE, "scope": "registry:catalog:*"}
    mine = env.token(scope, ("u", publisher)).json()
    assert _claims(mine["token"])["access"] == []
    admin = env.token(scope, ("u", str(env.admin.bearer))).json()
    assert _claims(admin["token"])["access"] == [{"type": "registry", "name": "catalog", "actions": ["*"]}]
    listed = httpx.get(f"http://{env.reg.host}/v2/_catalog", headers={"Authorization": f"Bearer {admin['token']}"})
    assert listed.status_code == 200
    refused = httpx.get(f"http://{env.reg.host}/v2/_catalog", headers={"Authorization": f"Bearer {mine['token']}"})
    assert refused.status_code == 401


BAD = [
    ({"service": SERVICE, "scope": "repository:acme/app"}, None, 400, "scope-malformed"),
    ({"service": SERVICE, "scope": "repository:Acme/App:pull"}, None, 400, "repository-name-invalid"),
    ({"service": SERVICE, "scope": "repository:acme//app:pull"}, None, 400, "repository-name-invalid"),
    ({"service": SERVICE, "scope": "repo$:x:pull"}, None, 400, "scope-malformed"),
    ({"scope": "repository:acme/app:pull"}, None, 401, "service-missing"),
    ({"service": "someone-else", "scope": "repository:acme/app:pull"}, None, 401, "service-unknown"),
    ({"service": SERVICE, "scope": "x" * 9000}, None, 400, "query-too-large"),
    ({"service": SERVICE}, "Basic !!!not-base64", 400, "basic-auth-malformed"),
    ({"service": SERVICE}, "Basic " + base64.b64encode(b"no-colon").decode(), 400, "basic-auth-malformed"),
    ({"service": SERVICE}, "Bearer assay_t_0123456789abcdef_" + "A" * 43, 401, "token-invalid"),
    ({"service": SERVICE}, "Bearer not-a-credential", 401, "credential-malformed"),
    ({"service": SERVICE}, "Digest abc", 401, "credential-malformed"),
]


@pytest.mark.parametrize(("params", "authorization", "status", "reason"), BAD)
def test_bad_input_is_refused_with_the_spec_error_json(
    env: Env, params: dict[str, str], authorization: str | None, status: int, reason: str
) -> None:
    before = len(env.admin.ok("GET", "/api/v1/audit?limit=10000")["rows"])
    headers = {"Authorization": authorization} if authorization else {}
    r = env.token(params, headers=headers)
    assert r.status_code == status, r.text
    doc = r.json()
    assert doc["reason"] == reason and "token" not in doc
    assert doc["errors"][0]["code"] in ("UNAUTHORIZED", "UNSUPPORTED", "NAME_INVALID")
    if status == 401:
        assert r.headers["WWW-Authenticate"].startswith("Basic ")
    rows = env.admin.ok("GET", "/api/v1/audit?limit=10000")["rows"][before:]
    mine = [row for row in rows if row["action"] == "registry.token"]
    assert all(row["result"].startswith("refused:") for row in mine)


def test_expired_wrong_audience_and_forged_ci_tokens_are_refused(env: Env) -> None:
    cases = {
        "oidc-token-expired": dev_token(env.srv, "github", issuedAt=1_700_000_000, expiresIn=60),
        "oidc-wrong-audience": dev_token(env.srv, "github", audience="someone-else"),
    }
    good = dev_token(env.srv, "github")
    head, body, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = "repo:evil/evil:ref:refs/heads/main"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    cases["oidc-bad-signature"] = f"{head}.{forged}.{sig}"
    for reason, token in cases.items():
        r = env.token({"service": SERVICE, "scope": "repository:acme/app:pull"}, ("ci", token))
        assert r.status_code == 401 and r.json()["reason"] == reason, (reason, r.text)


def test_missing_and_unreadable_projects_answer_alike(env: Env) -> None:
    hidden = new_project(env.admin)
    outsider = Api(env.srv, session(env.srv, "outsider@example.com"))
    answers = []
    for name in (hidden, "no-such-project-anywhere"):
        r = env.token({"service": SERVICE, "scope": f"repository:{name}/app:pull"}, ("u", str(outsider.bearer)))
        assert r.status_code == 200
        answers.append(_claims(r.json()["token"])["access"])
    assert answers == [[], []]
    rows = env.audit(hidden)
    assert rows and rows[-1]["result"] == "refused:403:unknown-project"


def test_registry_check_reports_anonymous_capabilities(env: Env, registry: RegistryProcess) -> None:
    project = new_project(env.admin)
    closed = run_assay("registry", "check", f"{env.reg.host}/{project}/app", "-o", "json")
    assert closed.code == 0, closed.err
    rows = {r["item"]: r["status"] for r in json.loads(closed.out)["rows"]}
    assert rows == dict.fromkeys(
        ("anonymous-catalog", "anonymous-pull", "anonymous-push", "registry-access-restricted"), "pass"
    )
    opened = run_assay("registry", "check", f"{registry.host}/any/app", "-o", "sarif")
    assert opened.code == 1
    results = json.loads(opened.out)["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {
        "anonymous-catalog", "anonymous-pull", "anonymous-push", "registry-access-restricted",
    }  # fmt: skip
    assert "cancelled" in next(r["message"]["text"] for r in results if r["ruleId"] == "anonymous-push")
    table = run_assay("registry", "check", f"{registry.host}/any/app", "--allow-anonymous-pull")
    assert table.code == 1 and "pass     anonymous-pull" in table.out
    bad = run_assay("registry", "check", "no-repository")
    assert bad.code == 2 and "error[bad-registry-reference]" in bad.err
    listed = run_assay("checklist", "--registry", f"{env.reg.host}/{project}/app", "-o", "json")
    assert json.loads(listed.out)["rows"][0]["status"] == "pass"


def test_child_projects_own_the_repositories_under_their_path(env: Env) -> None:
    parent = new_project(env.admin)
    child = new_project(env.admin, parent)
    email = f"child-{child}@example.com"
    grant(env.admin, child, email, "publisher")
    member = Api(env.srv, session(env.srv, email))
    token = member.ok("POST", f"/api/v1/projects/{child}/tokens", {"role": "publisher", "name": "c"})["token"]
    pushed = env.push(f"{parent}/{child}/app:v1", f"u:{token}")
    assert pushed.returncode == 0, pushed.stderr
    assert env.push(f"{parent}/app:v1", f"u:{token}").returncode != 0, "the parent's repositories are not the child's"
    # a parent's grant reaches the child's repositories (grants inherit down the tree)
    viewer_email = f"up-{parent}@example.com"
    grant(env.admin, parent, viewer_email, "viewer")
    viewer_session = session(env.srv, viewer_email)
    r = env.token({"service": SERVICE, "scope": f"repository:{parent}/{child}/app:pull,push"}, ("u", viewer_session))
    assert _claims(r.json()["token"])["access"][0]["actions"] == ["pull"]
    assert any(row["project"] == child and row["result"] == "partial:insufficient-role" for row in env.audit(child))
    # the parent's push rule covers its children's repositories unless a child sets its own
    env.admin.ok("PUT", f"/api/v1/projects/{parent}/registry/push-policy", {"push": "ci-only", "rules": []})
    assert env.push(f"{parent}/{child}/app:v2", f"u:{token}").returncode != 0
    assert env.admin.ok("GET", f"/api/v1/projects/{child}/registry/push-policy")["push"] == "ci-only"
    env.admin.ok("PUT", f"/api/v1/projects/{child}/registry/push-policy", {"push": "any"})
    assert env.push(f"{parent}/{child}/app:v2", f"u:{token}").returncode == 0


def test_rs256_tokens_with_x5c_are_accepted_by_the_registry(tmp_path: Path, database: str | None) -> None:
    require_tool("docker-registry")
    require_tool("skopeo")
    srv = ServerProcess(
        tmp_path / "data", database, extra=["--dev", "--registry-token-alg", "RS256", "--registry-token-x5c"]
    )
    r = run_assay(
        "registry", "auth-config", "--service", SERVICE, "--server", srv.url, "--data-dir", str(srv.data_dir),
        "--alg", "RS256",
    )  # fmt: skip
    assert r.code == 0, r.err
    srv.start()
    reg = RegistryProcess(tmp_path / "registry", token_auth=r.out)
    try:
        reg.start()
        admin = admin_api(srv)
        project = new_project(admin)
        from assay.oci.layout import Layout

        layout = tmp_path / "layout"
        build_image(Layout(layout, create=True), "", "v1", [tar_layer({"x": b"rs256"})])
        got = httpx.get(
            srv.url + "/v2/token", params={"service": SERVICE, "scope": f"repository:{project}/a:push"},
            auth=("u", str(admin.bearer)),
        )  # fmt: skip
        header = jwt.get_unverified_header(got.json()["token"])
        assert header["alg"] == "RS256" and len(header["x5c"]) == 1
        leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
        from assay.registry.token import libtrust_kid

        assert libtrust_kid(leaf.public_key()) == header["kid"]
        pushed = subprocess.run(
            [require_tool("skopeo"), "copy", "--dest-tls-verify=false", "--dest-creds", f"u:{admin.bearer}",
             f"oci:{layout}:v1", f"docker://{reg.host}/{project}/a:v1"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr
        bad = run_assay(
            "registry", "auth-config", "--service", SERVICE, "--data-dir", str(srv.data_dir), "--alg", "HS256"
        )
        assert bad.code == 2 and "error[bad-registry-token-alg]" in bad.err
        bad = run_assay("registry", "auth-config", "--service", "has space", "--data-dir", str(srv.data_dir))
        assert bad.code == 2 and "error[bad-service-name]" in bad.err
    finally:
        reg.stop()
        srv.stop()


BAD_FORMS = [
    ({"grant_type": "authorization_code", "service": SERVICE, "code": "x"}, 400, "unsupported-grant-type"),
    ({"grant_type": "password", "service": SERVICE, "username": "u"}, 400, "password-missing"),
    ({"grant_type": "password", "service": SERVICE, "password": "hunter2"}, 401, "credential-malformed"),
    ({"grant_type": "refresh_token", "service": SERVICE, "refresh_token": "a.b.c"}, 401, "refresh-token-invalid"),
    ({"grant_type": "password", "password": "x"}, 401, "service-missing"),
    (
        {"grant_type": "password", "service": SERVICE, "password": "x", "scope": "repository:UP/x:pull"},
        401,
        "credential-malformed",
    ),
]


@pytest.mark.parametrize(("form", "status", "reason"), BAD_FORMS)
def test_bad_oauth_forms_are_refused(env: Env, form: dict[str, str], status: int, reason: str) -> None:
    r = httpx.post(env.srv.url + "/v2/token", data=form, timeout=10)
    assert r.status_code == status and r.json()["reason"] == reason, r.text
    assert "access_token" not in r.json()


def test_oversized_and_undecodable_forms(env: Env) -> None:
    big = httpx.post(env.srv.url + "/v2/token", content=b"a=" + b"x" * 70000, timeout=10)
    assert big.status_code in (400, 413) and "access_token" not in big.text
    raw = httpx.post(
        env.srv.url + "/v2/token", content=b"grant_type=password&password=\xff\xfe", timeout=10,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert raw.status_code == 400 and raw.json()["reason"] == "form-malformed"
    # a refused scope inside a good request is no error: it is left out of access, and a bad one is a 400
    project = new_project(env.admin)
    publisher = env.token_for(project, "publisher")
    form = {"grant_type": "password", "service": SERVICE, "password": publisher, "scope": "repository:UP/x:pull"}
    assert httpx.post(env.srv.url + "/v2/token", data=form).json()["reason"] == "repository-name-invalid"
