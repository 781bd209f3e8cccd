"""--log-write (open vs require-token), rate limits (429 + Retry-After), and interactive login end to end."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from assay.log.entries import hashedrekord_proposal
from tests.conftest import ASSAY, run_assay, spawn
from tests.integration.accesskit import Api, admin_api, grant, id_token, new_project, session, start

KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _entry(data: bytes) -> dict:
    digest = hashlib.sha256(data).digest()
    return hashedrekord_proposal(KEY.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))), digest, PEM)


def _append(url: str, data: bytes, bearer: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return httpx.post(url + "/api/v1/log/entries", json=_entry(data), headers=headers, timeout=30)


def test_log_appends_stay_open_by_default(tmp_path: Path) -> None:
    srv = start(tmp_path, None)
    try:
        assert _append(srv.url, b"anyone may append").status_code == 201
        assert Api(srv, None).ok("GET", "/api/v1/access/permissions")["logWrite"] == "open"
    finally:
        srv.stop()


def test_require_token_gates_log_appends(tmp_path: Path) -> None:
    srv = start(tmp_path, None, "--log-write", "require-token")
    try:
        r = _append(srv.url, b"anonymous")
        assert (r.status_code, r.json()["reason"]) == (401, "credentials-missing")
        admin = admin_api(srv)
        project = new_project(admin)
        viewer = admin.ok("POST", f"/api/v1/projects/{project}/tokens", {"role": "viewer"})["token"]
        r = _append(srv.url, b"viewer", viewer)
        assert (r.status_code, r.json()["reason"]) == (403, "insufficient-role")
        publisher = admin.ok("POST", f"/api/v1/projects/{project}/tokens", {"role": "publisher"})["token"]
        assert _append(srv.url, b"publisher", publisher).status_code == 201
        rows = admin.ok("GET", "/api/v1/audit")["rows"]
        appends = [(r["action"], r["result"]) for r in rows if r["action"] == "log.append"]
        assert appends == [
            ("log.append", "refused:401:credentials-missing"),
            ("log.append", "refused:403:insufficient-role"),
            ("log.append", "ok"),
        ]
        # reads stay open
        assert httpx.get(srv.url + "/api/v1/log").status_code == 200
    finally:
        srv.stop()


def test_write_rate_limit_per_identity(tmp_path: Path) -> None:
    srv = start(tmp_path, None, "--rate-limit", "3/m")
    try:
        admin = admin_api(srv)
        project = new_project(admin)  # write 1
        statuses = []
        for i in range(4):
            r = admin(
                "POST",
                f"/api/v1/projects/{project}/grants",
                {"issuer": srv.url + "/dev/oidc", "subject": f"u{i}@x", "role": "viewer"},
            )
            statuses.append(r.status_code)
        assert statuses[:2] == [201, 201] and statuses[2:] == [429, 429]
        assert r.json()["reason"] == "rate-limited"
        assert int(r.headers["Retry-After"]) >= 1
        assert admin.ok("GET", f"/api/v1/projects/{project}")  # reads are not limited
        # another identity has its own bucket per identity, but shares the address bucket
        other = Api(srv, session(srv, "other@example.com"))
        r = other("POST", f"/api/v1/projects/{project}/tokens", {"role": "viewer"})
        assert r.status_code == 429
    finally:
        srv.stop()


def test_login_and_failed_auth_are_limited_per_address(tmp_path: Path) -> None:
    srv = start(tmp_path, None, "--login-rate-limit", "3/m")
    try:
        codes = []
        for _ in range(4):
            r = httpx.post(srv.url + "/api/v1/auth/session", json={"identityToken": id_token(srv, "g@example.com")})
            codes.append(r.status_code)
        assert codes == [200, 200, 200, 429]
        assert r.json()["reason"] == "rate-limited" and int(r.headers["Retry-After"]) >= 1
        guesses = [
            Api(srv, "assay_t_" + "0" * 16 + "_" + "A" * 43)("GET", "/api/v1/auth/whoami").json()["reason"]
            for _ in range(5)
        ]
        assert guesses[:3] == ["token-invalid"] * 3
        assert guesses[3:] == ["too-many-failures"] * 2
    finally:
        srv.stop()


def _spawn_login(srv_url: str, cfg: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(cfg)}
    return spawn(
        [str(ASSAY), "login", "--server", srv_url, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _read_line(proc: subprocess.Popen[str], pattern: str) -> re.Match[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(pattern, line)
        if m:
            return m
    raise AssertionError("login did not print " + pattern)


@pytest.mark.slow
def test_device_flow_login_whoami_logout(tmp_path: Path) -> None:
    srv = start(tmp_path, None)
    cfg = tmp_path / "cfg"
    try:
        proc = _spawn_login(srv.url, cfg)
        m = _read_line(proc, r"open (\S+) and enter the code (\S+)")
        page = httpx.get(m.group(1), params={"user_code": m.group(2)})
        assert page.status_code == 200 and "Development issuer" in page.text
        wrong = httpx.post(m.group(1), data={"user_code": "NOPE-NOPE", "email": "x@example.com"})
        assert wrong.status_code == 400
        ok = httpx.post(m.group(1), data={"user_code": m.group(2), "email": "admin@example.com"})
        assert ok.status_code == 200
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "as admin@example.com (server administrator)" in out
        creds = cfg / "assay" / "credentials.json"
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        session_token = json.loads(creds.read_text())["servers"][srv.url]["session"]
        env = {"XDG_CONFIG_HOME": str(cfg)}
        me = run_assay("whoami", env=env)
        assert me.code == 0 and "admin@example.com" in me.out
        assert run_assay("project", "create", "from-device", env=env).code == 0
        assert run_assay("logout", env=env).code == 0
        assert srv.url not in json.loads(creds.read_text())["servers"]
        gone = Api(srv, session_token)("GET", "/api/v1/auth/whoami")
        assert gone.json()["reason"] == "session-revoked"
        after = run_assay("whoami", "--server", srv.url, env=env)
        assert after.code == 2 and "error[credentials-missing]" in after.err
    finally:
        srv.stop()


@pytest.mark.slow
def test_pkce_flow_login(tmp_path: Path) -> None:
    srv = start(tmp_path, None)
    cfg = tmp_path / "cfg"
    try:
        admin = admin_api(srv)
        project = new_project(admin)
        grant(admin, project, "pkce@example.com", "publisher")
        proc = _spawn_login(srv.url, cfg, "--flow", "pkce")
        url = _read_line(proc, r"open (\S+)").group(1)
        assert httpx.get(url).status_code == 200  # the login page
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        form = {k: query[k] for k in ("redirect_uri", "state", "code_challenge")}
        # a non-loopback redirect is refused
        bad = httpx.post(
            srv.url + "/dev/oidc/authorize", data={**form, "redirect_uri": "http://evil.example/cb", "email": "a@b"}
        )
        assert bad.status_code == 400
        sent = httpx.post(srv.url + "/dev/oidc/authorize", data={**form, "email": "pkce@example.com"})
        assert sent.status_code == 302
        callback = sent.headers["location"]
        code = parse_qs(urlsplit(callback).query)["code"][0]
        assert httpx.get(callback).status_code == 200  # the browser lands on the CLI's loopback listener
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "as pkce@example.com" in out
        shown = run_assay("project", "show", project, "--json", env={"XDG_CONFIG_HOME": str(cfg)})
        assert json.loads(shown.out)["role"] == "publisher"
        # the code was spent; a wrong verifier never works
        again = httpx.post(
            srv.url + "/dev/oidc/oauth-token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": form["redirect_uri"],
                "code_verifier": "x" * 43,
            },
        )
        assert again.json()["error"] == "invalid_grant"
    finally:
        srv.stop()


def test_pkce_verifier_must_match(tmp_path: Path) -> None:
    srv = start(tmp_path, None)
    try:
        import base64
        import secrets

        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        form = {
            "redirect_uri": "http://127.0.0.1:9/cb",
            "state": "s",
            "code_challenge": challenge,
            "email": "v@example.com",
        }
        sent = httpx.post(srv.url + "/dev/oidc/authorize", data=form)
        code = parse_qs(urlsplit(sent.headers["location"]).query)["code"][0]
        token_url = srv.url + "/dev/oidc/oauth-token"
        base = {"grant_type": "authorization_code", "code": code, "redirect_uri": form["redirect_uri"]}
        wrong = httpx.post(token_url, data={**base, "code_verifier": secrets.token_urlsafe(48)})
        assert wrong.json()["error"] == "invalid_grant"
        # a failed attempt spends the code too
        right = httpx.post(token_url, data={**base, "code_verifier": verifier})
        assert right.json()["error"] == "invalid_grant"
    finally:
        srv.stop()


def test_identity_token_login_from_the_cli(tmp_path: Path) -> None:
    srv = start(tmp_path, None)
    cfg = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    try:
        ok = run_assay("login", "--server", srv.url, "--identity-token", id_token(srv, "ci@example.com"), env=cfg)
        assert ok.code == 0, ok.err
        refused = run_assay("project", "create", "nope", env=cfg)
        assert refused.code == 2 and "error[not-server-admin]" in refused.err
        bad = run_assay("login", "--server", srv.url, "--identity-token", "garbage", env=cfg)
        assert bad.code == 2 and "error[oidc-token-malformed]" in bad.err
        unverified = id_token(srv, "u@example.com", emailVerified=False)
        r = httpx.post(srv.url + "/api/v1/auth/session", json={"identityToken": unverified})
        assert r.status_code == 200 and r.json()["email"] is None
    finally:
        srv.stop()


@pytest.mark.slow
def test_project_and_token_commands(tmp_path: Path) -> None:
    srv = start(tmp_path, None, "--audit-anchor-interval", "0.5")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    try:
        assert (
            run_assay(
                "login", "--server", srv.url, "--identity-token", id_token(srv, "admin@example.com"), env=env
            ).code
            == 0
        )
        iss = srv.url + "/dev/oidc"
        assert run_assay("project", "create", "acme", env=env).code == 0
        assert run_assay("project", "create", "web", "--parent", "acme", env=env).code == 0
        args = ["--project", "acme", "--identity", "bob@example.com", "--issuer", iss]
        assert run_assay("project", "grant", *args, "--role", "publisher", env=env).code == 0
        unknown = run_assay("project", "grant", *args, "--role", "owner", env=env)
        assert unknown.code == 2 and "error[unknown-role]" in unknown.err
        listed = run_assay("project", "list", env=env)
        # a --dev server also holds the public `sigstore` project whose TUF repository carries its trust
        assert [line.split("\t")[:2] for line in listed.out.splitlines()] == [
            ["acme", "-"], ["sigstore", "-"], ["web", "acme"],
        ]  # fmt: skip
        made = run_assay(
            "token", "create", "--project", "web", "--role", "publisher", "--name", "ci", "--expires", "30d", env=env
        )
        assert made.code == 0, made.err
        token = made.out.strip()
        assert token.startswith("assay_t_") and "shown once" in made.err
        shown = run_assay("project", "show", "web", "--json", "--token", token, env=env)
        assert json.loads(shown.out)["role"] == "publisher"
        token_id = token.split("_")[2]
        listing = run_assay("token", "list", "--project", "web", env=env)
        assert token_id in listing.out and "active" in listing.out and token not in listing.out
        assert run_assay("token", "revoke", token_id, "--project", "web", env=env).code == 0
        refused = run_assay("project", "show", "web", "--token", token, env=env)
        assert refused.code == 2 and "error[token-revoked]" in refused.err
        assert run_assay("project", "revoke", *args, env=env).code == 0
        last = run_assay(
            "project", "revoke", "--project", "acme", "--identity", "admin@example.com", "--issuer", iss, env=env
        )
        assert last.code == 2 and "error[last-admin]" in last.err
        assert run_assay("project", "delete", "web", env=env).code == 0
        # the periodic anchoring caught up without being asked
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            anchors = Api(srv, session(srv, "admin@example.com")).ok("GET", "/api/v1/audit/anchors")["anchors"]
            if anchors:
                break
            time.sleep(0.3)
        assert anchors
        ok = run_assay("audit", "verify", env=env)
        assert ok.code == 0, ok.err
    finally:
        srv.stop()


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (["--admin", "alice@example.com"], "bad-admin"),
        (["--admin", "https://issuer.example="], "bad-admin"),
        (["--log-write", "sometimes"], "bad-log-write"),
        (["--rate-limit", "fast"], "bad-rate-limit"),
    ],
)
def test_bad_server_options_are_refused(tmp_path: Path, flags: list[str], reason: str) -> None:
    r = run_assay("server", "--data-dir", str(tmp_path / "d"), "--port", "1", *flags)
    assert r.code == 2 and f"error[{reason}]" in r.err, r.err


def test_openapi_documents_the_access_routes(tmp_path: Path) -> None:
    srv = start(tmp_path, None)
    try:
        doc = httpx.get(srv.url + "/openapi.json").json()
        assert "/api/v1/projects/{project}/tokens" in doc["paths"]
        assert "/api/v1/auth/session" in doc["paths"]
    finally:
        srv.stop()
