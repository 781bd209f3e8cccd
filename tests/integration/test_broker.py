"""The key broker on the real server (SQLite and PostgreSQL): signed decryption policies, granted and refused
unwraps (each refusal with its reason code, nothing decrypted left behind), policy changes taking effect at
once, re-wrap, and the release record checked against the transparency log's inclusion proofs."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import run_assay
from tests.integration.accesskit import Api, admin_api, fresh_database, grant, new_project, start, unique
from tests.integration.conftest import ServerProcess, dev_token

WORKLOAD = "workload@example.com"
AUDIENCE = "assay-broker"
SECRET = b"the release build's signing secret\n" * 5000


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bsrv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    gen = fresh_database(request.param)
    database = next(gen)
    srv = start(tmp_path_factory.mktemp("broker"), database)
    try:
        yield srv
    finally:
        srv.stop()
        gen.close()


@dataclass
class Env:
    srv: ServerProcess
    project: str
    admin: Api
    platform: str  # a publisher API token (the unwrapping platform's assay credential)
    w: Path

    def spec(self, key: str) -> str:
        return f"broker:{self.srv.url}/{self.project}/{key}"

    def cli(self, *args: str, token: str | None = None) -> Any:
        env = {"ASSAY_TOKEN": token or self.admin.bearer or "", "ASSAY_IDENTITY_TOKEN": ""}
        return run_assay(*args, cwd=self.w, env=env)

    def key(self, name: str) -> None:
        r = self.cli("broker", "key", "create", "--server", self.srv.url, "--project", self.project, "--name", name)
        assert r.code == 0, r.err

    def policy(self, name: str, rules: list[dict[str, Any]], *extra: str) -> Any:
        path = self.w / f"{unique('policy')}.yaml"
        path.write_text(json.dumps({"rules": rules}))
        signer = () if "--identity-token" in extra else ("--signer", "writer.key")
        return self.cli("broker", "policy", "set", "--server", self.srv.url, "--project", self.project,
                        "--name", name, "-f", str(path), *signer, *extra)  # fmt: skip

    def encrypt(self, name: str) -> Path:
        (self.w / "secret.txt").write_bytes(SECRET)
        out = self.w / f"{name}.age"
        r = self.cli("encrypt-blob", "secret.txt", "--recipient", self.spec(name), "--out", str(out))
        assert r.code == 0, r.err
        return out

    def decrypt(self, name: str, src: Path, token: str, out: str = "plain.txt") -> Any:
        (self.w / out).unlink(missing_ok=True)
        return self.cli("decrypt-blob", str(src), "--broker", self.spec(name), "--identity-token", token,
                        "--out", out, token=self.platform)  # fmt: skip

    def no_plaintext(self, out: str = "plain.txt") -> None:
        assert not (self.w / out).exists()
        assert not [p for p in self.w.iterdir() if p.name.startswith(f".{out}.")]


def rule(srv: ServerProcess, **over: Any) -> dict[str, Any]:
    return {"name": "prod", "issuer": srv.url + "/dev/oidc", "subject": WORKLOAD, "audience": AUDIENCE,
            "claims": {"namespace": "prod"}, **over}  # fmt: skip


def workload(srv: ServerProcess, **over: Any) -> str:
    body: dict[str, Any] = {"email": WORKLOAD, "audience": AUDIENCE, "claims": {"namespace": "prod"}}
    body.update(over)
    return dev_token(srv, **body)


@pytest.fixture(scope="module")
def env(bsrv: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Env:
    admin = admin_api(bsrv)
    project = new_project(admin)
    w = tmp_path_factory.mktemp("work")
    assert run_assay("keygen", "--output-prefix", "writer", cwd=w).code == 0
    admin.ok("PUT", f"/api/v1/projects/{project}/trust", {"keys": [(w / "writer.pub").read_text()]})
    platform = admin.ok("POST", f"/api/v1/projects/{project}/tokens", {"role": "publisher", "name": "node"})["token"]
    return Env(bsrv, project, admin, platform, w)


def test_granted_unwrap_decrypts_and_audit_verifies_the_release(env: Env) -> None:
    env.key("release")
    r = env.policy("release", [rule(env.srv)])
    assert r.code == 0, r.err
    assert "policy v1" in r.out and "signed by key:" in r.out
    enc = env.encrypt("release")
    assert enc.read_bytes().startswith(b"age-encryption.org/v1\n-> X25519 ")
    r = env.decrypt("release", enc, workload(env.srv))
    assert r.code == 0, r.err
    assert (env.w / "plain.txt").read_bytes() == SECRET
    r = env.cli("broker", "audit", "--server", env.srv.url, "--project", env.project, "--key", "release", "--json")
    assert r.code == 0, r.err
    rows = json.loads(r.out)
    assert [(x["decision"], x["verified"], x["policyVersion"]) for x in rows] == [("granted", True, 1)]
    assert rows[0]["identity"] == {"iss": env.srv.url + "/dev/oidc", "sub": WORKLOAD}
    assert rows[0]["evidenceDigest"].startswith("sha256:")
    actions = {row["action"] for row in env.admin.ok("GET", f"/api/v1/projects/{env.project}/audit")["rows"]}
    assert {"broker.admin", "broker.policy", "broker.unwrap"} <= actions


@pytest.mark.parametrize(
    "change,reason",
    [
        ({"audience": "someone-else"}, "policy-audience"),
        ({"claims": {"namespace": "dev"}}, "policy-claim"),
        ({"email": "intruder@example.com"}, "policy-subject"),
        ({"issuedAt": int(time.time()) - 7200, "expiresIn": 600}, "evidence-expired"),
    ],
)
def test_refused_unwrap_names_the_check_and_leaves_nothing(env: Env, change: dict[str, Any], reason: str) -> None:
    name = unique("k")
    env.key(name)
    assert env.policy(name, [rule(env.srv)]).code == 0
    enc = env.encrypt(name)
    r = env.decrypt(name, enc, workload(env.srv, **change))
    assert r.code == 1, (r.out, r.err)
    assert f"error[{reason}]" in r.err
    if reason.startswith("policy-"):
        assert "rule prod" in r.err
    env.no_plaintext()
    rows = [x["statement"] for x in _releases(env, name)]
    assert [(x["decision"], x["reason"]) for x in rows] == [("refused", reason)]


def test_policy_change_takes_effect_on_the_next_unwrap(env: Env) -> None:
    name = unique("k")
    env.key(name)
    assert env.policy(name, [rule(env.srv)]).code == 0
    enc = env.encrypt(name)
    assert env.decrypt(name, enc, workload(env.srv)).code == 0
    closed = rule(env.srv, notAfter="2020-01-01T00:00:00Z")
    r = env.policy(name, [closed])
    assert r.code == 0 and "policy v2" in r.out, r.err
    r = env.decrypt(name, enc, workload(env.srv))
    assert r.code == 1 and "error[policy-time-window]" in r.err, r.err
    env.no_plaintext()
    # the platform is revoked by the next version: only another namespace may unwrap now
    assert env.policy(name, [rule(env.srv, claims={"namespace": "staging"})]).code == 0
    r = env.decrypt(name, enc, workload(env.srv))
    assert r.code == 1 and "error[policy-claim]" in r.err, r.err
    statements = [x["statement"] for x in _releases(env, name)]
    assert [(s["decision"], s["policyVersion"]) for s in statements] == [("granted", 1), ("refused", 2), ("refused", 3)]
    assert len({s["policyDigest"] for s in statements}) == 3
    r = env.cli("broker", "audit", "--server", env.srv.url, "--project", env.project, "--key", name, "--json")
    assert r.code == 0, r.err
    assert all(x["verified"] for x in json.loads(r.out))


def _releases(env: Env, name: str) -> list[dict[str, Any]]:
    return list(env.admin.ok("GET", f"/api/v1/projects/{env.project}/keys/{name}/releases")["releases"])


def _unwrap_body(env: Env, name: str, token: str, nonce: str | None = None) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from assay.crypt import age

    recipient = env.admin.ok("GET", f"/api/v1/projects/{env.project}/keys/{name}")["recipient"]
    st = age.Recipient.parse(recipient).wrap(os.urandom(16))
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return {"stanza": {"type": st.type, "args": list(st.args), "body": base64.b64encode(st.body).decode()},
            "ephemeralKey": pem.decode(), "nonce": nonce or os.urandom(16).hex(), "timestamp": time.time(),
            "evidence": {"token": token}}  # fmt: skip


def _forged_token(issuer: str) -> str:
    """The workload's claims, signed by a key the issuer never published."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    now = int(time.time())
    claims = {"iss": issuer, "sub": WORKLOAD, "aud": AUDIENCE, "namespace": "prod", "iat": now, "exp": now + 600}
    return jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "x"})


def test_replayed_stale_and_unknown_key_requests_are_refused(env: Env) -> None:
    name = unique("k")
    env.key(name)
    assert env.policy(name, [rule(env.srv)]).code == 0
    api = Api(env.srv, env.platform)
    url = f"/api/v1/projects/{env.project}/keys/{name}/unwrap"
    body = _unwrap_body(env, name, workload(env.srv))
    first = api("POST", url, body)
    assert first.status_code == 200, first.text
    assert first.json()["jwe"].startswith("{")
    again = api("POST", url, body)
    assert (again.status_code, again.json()["reason"]) == (409, "replayed-request")
    stale = {**_unwrap_body(env, name, workload(env.srv)), "timestamp": time.time() - 3600}
    r = api("POST", url, stale)
    assert (r.status_code, r.json()["reason"]) == (400, "stale-request")
    r = api("POST", f"/api/v1/projects/{env.project}/keys/nope/unwrap", body | {"nonce": os.urandom(16).hex()})
    assert (r.status_code, r.json()["reason"]) == (404, "broker-key-not-found")
    for raw, reason in [(b"[[[", "json-invalid"), (b"[1]", "json-invalid"), (b"[" * 500 + b"]" * 500, "json-too-deep")]:
        r = api("POST", url, content=raw)
        assert (r.status_code, r.json()["reason"]) == (400, reason), r.text
    bad_stanza = {**_unwrap_body(env, name, workload(env.srv)), "stanza": {"type": "X25519", "args": "x"}}
    r = api("POST", url, bad_stanza)
    assert (r.status_code, r.json()["reason"]) == (400, "bad-unwrap-request"), r.text
    r = api("POST", url, {**_unwrap_body(env, name, workload(env.srv)), "ephemeralKey": "not a key"})
    assert (r.status_code, r.json()["reason"]) == (400, "bad-unwrap-request"), r.text
    r = api("POST", url, _unwrap_body(env, name, "not-a-token"))
    assert (r.status_code, r.json()["reason"]) == (403, "oidc-token-malformed"), r.text
    r = api("POST", url, _unwrap_body(env, name, _forged_token(env.srv.url + "/dev/oidc")))
    assert (r.status_code, r.json()["reason"]) == (403, "oidc-unknown-key"), r.text
    head, _, sig = workload(env.srv, claims={"namespace": "dev"}).split(".")
    claims = {"iss": env.srv.url + "/dev/oidc", "sub": WORKLOAD, "aud": AUDIENCE, "namespace": "prod",
              "iat": int(time.time()), "exp": int(time.time()) + 600}  # fmt: skip
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    r = api("POST", url, _unwrap_body(env, name, f"{head}.{payload}.{sig}"))
    assert (r.status_code, r.json()["reason"]) == (403, "evidence-invalid"), r.text
    refused = api("POST", url, _unwrap_body(env, name, workload(env.srv, audience="x")))
    assert refused.status_code == 403
    assert (refused.json()["reason"], refused.json()["failedRules"]) == ("policy-audience", ["prod"])
    r = env.decrypt("nope", env.encrypt(name), workload(env.srv))
    assert r.code == 2 and "error[broker-key-not-found]" in r.err, r.err
    env.no_plaintext()


def _signed_bundle(env: Env, name: str, rules: list[dict[str, Any]]) -> bytes:
    from assay.clients.broker import BrokerClient
    from assay.service.broker import policy_statement
    from assay.service.credentials import Credentials

    client = BrokerClient.at(env.srv.url, env.project, name, env.admin.bearer)
    creds = Credentials.resolve(str(env.w / "writer.key"), None, env.srv.url, None)
    return creds.sign_statement(policy_statement(client, {"rules": rules})).to_bytes()


def test_unsigned_tampered_and_misdirected_policies_are_refused(env: Env) -> None:
    name, other = unique("k"), unique("k")
    env.key(name)
    env.key(other)
    path = f"/api/v1/projects/{env.project}/keys/{name}/policy"
    r = env.admin("PUT", path, content=json.dumps({"rules": [rule(env.srv)]}).encode())
    assert (r.status_code, r.json()["reason"]) == (400, "broker-policy-unsigned")
    # a signed policy, captured on its way: sign for ``other`` and keep the bundle
    bundle = _signed_bundle(env, other, [rule(env.srv)])
    r = env.admin("PUT", path, content=bundle)
    assert (r.status_code, r.json()["reason"]) == (400, "broker-policy-wrong-key")
    doc = json.loads(bundle)
    statement = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    statement["predicate"]["rules"][0]["subjectRegexp"] = ".*"
    statement["predicate"]["rules"][0].pop("subject")
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    r = env.admin("PUT", f"/api/v1/projects/{env.project}/keys/{other}/policy", content=json.dumps(doc).encode())
    assert (r.status_code, r.json()["reason"]) == (400, "broker-policy-signature-invalid"), r.text
    assert env.admin("GET", f"/api/v1/projects/{env.project}/keys/{other}/policy").status_code == 404
    # a key the project does not trust
    assert run_assay("keygen", "--output-prefix", "stranger", cwd=env.w).code == 0
    bad = env.policy(name, [rule(env.srv)], "--signer", "stranger.key")
    assert bad.code == 2 and "error[broker-policy-signature-invalid]" in bad.err, bad.err
    # a document that does not parse is refused before it is signed
    broken = env.policy(name, [{"name": "x"}])
    assert broken.code == 2 and "error[broker-policy-invalid]" in broken.err
    assert env.admin("GET", f"/api/v1/projects/{env.project}/keys/{name}/policy").status_code == 404


def test_keyless_policy_needs_a_policy_writer(env: Env) -> None:
    name = unique("k")
    env.key(name)
    writer, viewer = unique("writer") + "@example.com", unique("viewer") + "@example.com"
    grant(env.admin, env.project, writer, "policy_writer")
    grant(env.admin, env.project, viewer, "viewer")
    r = env.policy(name, [rule(env.srv)], "--identity-token", dev_token(env.srv, email=viewer))
    assert r.code == 2 and "error[broker-policy-signer-not-writer]" in r.err, r.err
    r = env.policy(name, [rule(env.srv)], "--identity-token", dev_token(env.srv, email=writer))
    assert r.code == 0, r.err
    assert f"signed by {env.srv.url}/dev/oidc={writer}" in r.out


def test_rewrap_for_a_new_key_version_keeps_the_payload(env: Env) -> None:
    name = unique("k")
    env.key(name)
    assert env.policy(name, [rule(env.srv)]).code == 0
    enc = env.encrypt(name)
    env.key(name)  # version 2
    out = env.w / "rewrapped.age"
    r = env.cli("broker", "rewrap", "--server", env.srv.url, "--project", env.project, "--name", name, str(enc),
                "--out", str(out))  # fmt: skip
    assert r.code == 0 and "v1 -> v2" in r.out, r.err
    old, new = enc.read_bytes(), out.read_bytes()
    assert old[old.index(b"\n---") :].split(b"\n", 2)[2] == new[new.index(b"\n---") :].split(b"\n", 2)[2]
    r = env.decrypt(name, out, workload(env.srv))
    assert r.code == 0, r.err
    assert (env.w / "plain.txt").read_bytes() == SECRET
    assert _releases(env, name)[-1]["statement"]["keyVersion"] == 2
    r = env.cli("broker", "rewrap", "--server", env.srv.url, "--project", env.project, "--name", name, str(out),
                "--out", "x.age", token=env.platform)  # fmt: skip
    assert r.code == 2 and "error[insufficient-role]" in r.err, r.err
    assert not (env.w / "x.age").exists()


def test_key_list_and_show(env: Env) -> None:
    name = unique("k")
    env.key(name)
    r = env.cli("broker", "key", "list", "--server", env.srv.url, "--project", env.project, "--json")
    assert r.code == 0 and name in {k["name"] for k in json.loads(r.out)}, r.err
    r = env.cli("broker", "key", "show", "--server", env.srv.url, "--project", env.project, "--name", name,
                token=env.platform)  # fmt: skip
    assert r.code == 0 and "age1" in r.out, r.err
    r = httpx.get(f"{env.srv.url}/api/v1/projects/{env.project}/keys/{name}", timeout=10)
    assert r.status_code == 401


TEE = "https://example.com/tee-report/v1"


def _attestation(env: Env, nonce: str, claims: dict[str, Any], key: str = "attester.key") -> dict[str, Any]:
    from assay.formats import intoto
    from assay.service.credentials import Credentials

    creds = Credentials.resolve(str(env.w / key), None, env.srv.url, None)
    statement = intoto.Statement((intoto.Subject("node-7", {"sha256": "ab" * 32}),), TEE, {"nonce": nonce, **claims})
    return dict(json.loads(creds.sign_statement(statement).to_bytes()))


def _tee_key(env: Env) -> tuple[str, str]:
    """(attester key id, key name): keys ``attester`` (trusted) and ``stranger`` (not), and a fresh key whose policy
    asks for attester-signed evidence of an SEV-SNP platform."""
    from assay.crypto import keys

    for who in ("attester", "stranger"):
        if not (env.w / f"{who}.key").exists():
            assert run_assay("keygen", "--output-prefix", who, cwd=env.w).code == 0
    trusted = [(env.w / f).read_text() for f in ("writer.pub", "attester.pub")]
    env.admin.ok("PUT", f"/api/v1/projects/{env.project}/trust", {"keys": trusted})
    attester = "key:" + keys.key_id(keys.parse_public((env.w / "attester.pub").read_bytes(), "attester"))
    name = unique("k")
    env.key(name)
    tee = {"name": "tee", "attester": attester, "predicateType": TEE, "condition": "platform.tee == 'sev-snp'"}
    assert env.policy(name, [tee]).code == 0
    return attester, name


def test_attester_signed_platform_evidence(env: Env) -> None:
    attester, name = _tee_key(env)
    api = Api(env.srv, env.platform)
    url = f"/api/v1/projects/{env.project}/keys/{name}/unwrap"

    def ask(claims: dict[str, Any], key: str = "attester.key", stale: bool = False, tamper: bool = False) -> Any:
        body = _unwrap_body(env, name, "")
        att = _attestation(env, os.urandom(16).hex() if stale else body["nonce"], claims, key)
        if tamper:
            statement = json.loads(base64.b64decode(att["dsseEnvelope"]["payload"]))
            statement["predicate"]["tee"] = "sev-snp"
            att["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
        body["evidence"] = {"attestation": att}
        return api("POST", url, body)

    r = ask({"tee": "sev-snp"})
    assert r.status_code == 200, r.text
    for kwargs, reason in [
        ({"claims": {"tee": "none"}}, "policy-condition"),
        ({"claims": {"tee": "sev-snp"}, "stale": True}, "attestation-not-fresh"),
        ({"claims": {"tee": "sev-snp"}, "key": "stranger.key"}, "attestation-invalid"),
        ({"claims": {"tee": "none"}, "tamper": True}, "attestation-invalid"),
    ]:
        r = ask(**kwargs)
        assert (r.status_code, r.json()["reason"]) == (403, reason), (kwargs, r.text)
    r = api("POST", url, _unwrap_body(env, name, workload(env.srv)))  # a workload token is not the evidence asked
    assert (r.status_code, r.json()["reason"]) == (403, "policy-attestation-missing"), r.text
    statements = [x["statement"] for x in _releases(env, name)]
    assert statements[0]["decision"] == "granted" and statements[0]["attester"] == attester
    assert [s["decision"] for s in statements[1:]] == ["refused"] * 5


def test_a_github_actions_job_decrypts_with_its_own_token(env: Env) -> None:
    """No --identity-token: the job's ambient ID token (minted for the broker's audience) is the evidence."""
    from tests.integration import ci_env

    name = unique("k")
    env.key(name)
    job = {"name": "release-job", "issuer": env.srv.url + "/dev/oidc/github",
           "subjectRegexp": f"^repo:{ci_env.REPO}:ref:refs/tags/.*$", "audience": AUDIENCE,
           "claims": {"repository": ci_env.REPO}, "condition": "claims.ref.startsWith('refs/tags/v')"}  # fmt: skip
    assert env.policy(name, [job]).code == 0
    enc = env.encrypt(name)
    with ci_env.github_token_endpoint(env.srv) as ep:
        ci = {**ep.env(), "ASSAY_TOKEN": env.platform, "ASSAY_IDENTITY_TOKEN": ""}
        args = ("decrypt-blob", str(enc), "--broker", env.spec(name), "--out", "plain.txt")
        r = run_assay(*args, cwd=env.w, env=ci)
        assert r.code == 0, r.err
        assert "using the identity token from GitHub Actions" in r.err
        assert ep.requests[-1]["query"]["audience"] == [AUDIENCE]
        assert (env.w / "plain.txt").read_bytes() == SECRET
        (env.w / "plain.txt").unlink()
        assert env.policy(name, [{**job, "claims": {"repository": "myorg/other"}}]).code == 0
        r = run_assay(*args, cwd=env.w, env=ci)
        assert r.code == 1 and "error[policy-claim]" in r.err, r.err
        env.no_plaintext()


def test_the_cli_shows_attester_signed_platform_claims(env: Env) -> None:
    """decrypt-blob --attester KEY --platform-claims FILE signs the claims with each request's nonce; --attester
    cmd:... runs an attestation agent per unwrap; a refused claim, a failing agent and a replayed statement fail."""
    _, name = _tee_key(env)
    enc = env.encrypt(name)
    (env.w / "good.json").write_text(json.dumps({"predicateType": TEE, "predicate": {"tee": "sev-snp"}}))
    (env.w / "weak.json").write_text(json.dumps({"predicateType": TEE, "predicate": {"tee": "none"}}))

    def decrypt(*evidence: str) -> Any:
        (env.w / "plain.txt").unlink(missing_ok=True)
        return env.cli("decrypt-blob", str(enc), "--broker", env.spec(name), *evidence, "--out", "plain.txt",
                       token=env.platform)  # fmt: skip

    r = decrypt("--attester", "attester.key", "--platform-claims", "good.json")
    assert r.code == 0, r.err
    assert (env.w / "plain.txt").read_bytes() == SECRET
    for evidence, reason in [
        (("--attester", "attester.key", "--platform-claims", "weak.json"), "policy-condition"),
        (("--attester", "stranger.key", "--platform-claims", "good.json"), "attestation-invalid"),
    ]:
        r = decrypt(*evidence)
        assert r.code != 0 and f"[{reason}]" in r.err, (evidence, r.err)
        env.no_plaintext()
    # an attestation agent: signs what it is asked, for the nonce it is given
    agent = env.w / "agent.py"
    agent.write_text(
        "import json, os, sys\n"
        "from assay.formats import intoto\n"
        "from assay.service.credentials import Credentials\n"
        "nonce = sys.argv[1]\n"
        "assert nonce == os.environ['ASSAY_BROKER_NONCE']\n"
        "if os.environ.get('AGENT_REPLAY'):\n"
        "    nonce = open('first-nonce').read()\n"
        "else:\n"
        "    open('first-nonce', 'w').write(nonce)\n"
        "creds = Credentials.resolve('attester.key', None, None, None, ambient=False)\n"
        f"st = intoto.Statement((intoto.Subject('node-1', {{'sha256': 'ab' * 32}}),), {TEE!r}, "
        "{'tee': 'sev-snp', 'nonce': nonce})\n"
        "sys.stdout.write(creds.sign_statement(st).to_bytes().decode())\n"
    )
    import sys

    command = f"cmd:{sys.executable} {agent} {{nonce}}"
    r = decrypt("--attester", command)
    assert r.code == 0, r.err
    assert (env.w / "plain.txt").read_bytes() == SECRET
    r = run_assay("decrypt-blob", str(enc), "--broker", env.spec(name), "--attester", command, "--out", "plain.txt",
                  cwd=env.w, env={"ASSAY_TOKEN": env.platform, "ASSAY_IDENTITY_TOKEN": "", "AGENT_REPLAY": "1"})  # fmt: skip
    assert r.code != 0 and "[attestation-not-fresh]" in r.err, r.err  # an earlier request's statement shown again
    r = decrypt("--attester", f"cmd:{sys.executable} -c 'import sys; sys.exit(3)'")
    assert r.code == 3 and "[attester-failed]" in r.err, r.err
    r = decrypt("--attester", "attester.key")
    assert r.code == 2 and "[usage]" in r.err, r.err
    env.no_plaintext()
    decisions = [x["statement"]["decision"] for x in _releases(env, name)]
    assert decisions.count("granted") == 2 and decisions.count("refused") == 3
