"""Kubernetes service-account tokens and SPIFFE JWT-SVIDs as key-broker evidence, on the real server.

The server is started with ``--oidc-jwks`` for a cluster issuer (the JWKS a cluster serves at
``/openid/v1/jwks``) and a SPIFFE trust domain (a SPIRE-shaped bundle); the tokens are minted here with the
keys those files publish, in the shape each system issues them, and unwrapped against signed policies."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.conftest import run_assay
from tests.integration.accesskit import Api, admin_api, new_project, start, unique
from tests.integration.conftest import ServerProcess
from tests.integration.test_broker import SECRET, Env, _releases, _unwrap_body

K8S_ISS = "https://kubernetes.default.svc.cluster.local"
TD = "spiffe://example.org"
APP_ID = TD + "/ns/prod/sa/app"
AUDIENCE = "assay-broker"


def _public_jwk(key: Any, **members: Any) -> dict[str, Any]:
    algo = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    return {**json.loads(algo.to_jwk(key.public_key())), **members}


def _write(path: Path, doc: dict[str, Any]) -> None:
    """Replace the file as kubectl or SPIRE would (a new file renamed over the old), with a later mtime."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)
    later = time.time_ns() + 2 * 10**9
    os.utime(path, ns=(later, later))


def _cluster_jwks(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    return {"keys": [_public_jwk(key, use="sig", kid=kid, alg="RS256")]}


def _spire_bundle(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    ca = {"kty": "EC", "crv": "P-256", "use": "x509-svid", "x5c": ["MIIBroot"], **_public_jwk(key, use="x509-svid")}
    return {"keys": [ca, _public_jwk(key, use="jwt-svid", kid=kid)], "spiffe_refresh_hint": 300, "spiffe_sequence": 3}


class Cluster:
    """A Kubernetes API server's service-account token signer (RS256 with a kid, as kube-apiserver signs)."""

    def __init__(self, path: Path) -> None:
        self.path, self.key, self.kid = path, rsa.generate_private_key(public_exponent=65537, key_size=2048), "k8s-1"
        _write(path, _cluster_jwks(self.key, self.kid))

    def rotate(self) -> rsa.RSAPrivateKey:
        old = self.key
        self.key, self.kid = rsa.generate_private_key(public_exponent=65537, key_size=2048), "k8s-2"
        _write(self.path, _cluster_jwks(self.key, self.kid))
        return old

    def token(self, ns: str = "prod", sa: str = "app", aud: list[str] | None = None, age: int = 0,
              key: Any = None, kid: str | None = None) -> str:  # fmt: skip
        now = int(time.time()) - age
        claims = {
            "aud": aud or [AUDIENCE], "exp": now + 3607, "iat": now, "nbf": now, "iss": K8S_ISS, "jti": str(uuid.uuid4()),
            "kubernetes.io": {
                "namespace": ns,
                "node": {"name": "worker-1", "uid": str(uuid.uuid4())},
                "pod": {"name": f"{sa}-7d9f6c5b8-x2k4q", "uid": str(uuid.uuid4())},
                "serviceaccount": {"name": sa, "uid": str(uuid.uuid4())},
                "warnafter": now + 3000,
            },
            "sub": f"system:serviceaccount:{ns}:{sa}",
        }  # fmt: skip
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})


class Spire:
    """A SPIRE server's JWT-SVID signer (ES256; no ``iss`` unless ``jwt_issuer`` is configured)."""

    def __init__(self, path: Path) -> None:
        self.path, self.key, self.kid = path, ec.generate_private_key(ec.SECP256R1()), "svid-key-1"
        _write(path, _spire_bundle(self.key, self.kid))

    def svid(self, sub: str = APP_ID, **over: Any) -> str:
        now = int(time.time())
        claims = {"sub": sub, "aud": [AUDIENCE], "exp": now + 300, "iat": now, **over}
        body = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(body, self.key, algorithm="ES256", headers={"kid": self.kid, "typ": "JWT"})


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workload-keys")


@pytest.fixture(scope="module")
def cluster(keys_dir: Path) -> Cluster:
    return Cluster(keys_dir / "cluster-jwks.json")


@pytest.fixture(scope="module")
def spire(keys_dir: Path) -> Spire:
    return Spire(keys_dir / "example.org.bundle.json")


@pytest.fixture(scope="module")
def wsrv(tmp_path_factory: pytest.TempPathFactory, cluster: Cluster, spire: Spire) -> Iterator[ServerProcess]:
    specs = ("--oidc-jwks", f"{K8S_ISS}={cluster.path}", "--oidc-jwks", f"{TD}={spire.path}")
    srv = start(tmp_path_factory.mktemp("broker-wl"), None, *specs)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def env(wsrv: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Env:
    admin = admin_api(wsrv)
    project = new_project(admin)
    w = tmp_path_factory.mktemp("work")
    assert run_assay("keygen", "--output-prefix", "writer", cwd=w).code == 0
    admin.ok("PUT", f"/api/v1/projects/{project}/trust", {"keys": [(w / "writer.pub").read_text()]})
    platform = admin.ok("POST", f"/api/v1/projects/{project}/tokens", {"role": "publisher", "name": "node"})["token"]
    return Env(wsrv, project, admin, platform, w)


def _key_with(env: Env, rules: list[dict[str, Any]]) -> str:
    name = unique("k")
    env.key(name)
    r = env.policy(name, rules)
    assert r.code == 0, r.err
    return name


def _unwrap(env: Env, name: str, token: str) -> tuple[int, str]:
    r = Api(env.srv, env.platform)("POST", f"/api/v1/projects/{env.project}/keys/{name}/unwrap",
                                   _unwrap_body(env, name, token))  # fmt: skip
    return r.status_code, (r.json().get("reason", "") if r.status_code != 200 else "")


NAMESPACED = {"name": "prod-app", "issuer": K8S_ISS, "subjectRegexp": "^system:serviceaccount:[a-z0-9-]+:app$",
              "audience": AUDIENCE, "claims": {"kubernetes.io": {"namespace": "prod", "serviceaccount": {"name": "app"}}}}  # fmt: skip


def test_a_kubernetes_token_from_prod_decrypts_and_others_are_refused(env: Env, cluster: Cluster) -> None:
    name = _key_with(env, [NAMESPACED])
    enc = env.encrypt(name)
    r = env.decrypt(name, enc, cluster.token())
    assert r.code == 0, r.err
    assert (env.w / "plain.txt").read_bytes() == SECRET
    r = env.decrypt(name, enc, cluster.token(ns="dev"))
    assert r.code == 1 and "error[policy-claim]" in r.err and "rule prod-app" in r.err, r.err
    assert "kubernetes.io.namespace is 'dev'" in r.err
    env.no_plaintext()
    other = ec.generate_private_key(ec.SECP256R1())
    for token, want in [
        (cluster.token(sa="builder"), (403, "policy-subject")),
        (cluster.token(aud=[K8S_ISS]), (403, "policy-audience")),  # the API server's own audience
        (cluster.token(age=7200), (403, "evidence-expired")),
        (cluster.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)), (403, "evidence-invalid")),
        (cluster.token(kid="stolen-key"), (403, "oidc-unknown-key")),
        (jwt.encode({"iss": K8S_ISS, "sub": "system:serviceaccount:prod:app", "aud": AUDIENCE, "iat": int(time.time()),
                     "exp": int(time.time()) + 600}, other, algorithm="ES256", headers={"kid": "k8s-1"}),
         (403, "oidc-algorithm-mismatch")),
    ]:  # fmt: skip
        assert _unwrap(env, name, token) == want
    statements = [x["statement"] for x in _releases(env, name)]
    assert statements[0]["decision"] == "granted"
    assert statements[0]["identity"] == {"iss": K8S_ISS, "sub": "system:serviceaccount:prod:app"}
    assert [s["reason"] for s in statements[1:]] == ["policy-claim", "policy-subject", "policy-audience",
                                                     "evidence-expired", "evidence-invalid", "oidc-unknown-key",
                                                     "oidc-algorithm-mismatch"]  # fmt: skip


def test_a_cel_condition_reads_the_kubernetes_claims(env: Env, cluster: Cluster) -> None:
    cel = {"name": "cel", "issuer": K8S_ISS, "subjectRegexp": "^system:serviceaccount:.*$", "audience": AUDIENCE,
           "condition": 'claims["kubernetes.io"].namespace == "prod" && '
                        'claims["kubernetes.io"].serviceaccount.name == "app"'}  # fmt: skip
    name = _key_with(env, [cel])
    assert _unwrap(env, name, cluster.token()) == (200, "")
    assert _unwrap(env, name, cluster.token(ns="dev")) == (403, "policy-condition")
    assert _unwrap(env, name, cluster.token(sa="builder")) == (403, "policy-condition")


def test_rotating_the_cluster_jwks_takes_effect_without_a_restart(env: Env, cluster: Cluster) -> None:
    name = _key_with(env, [NAMESPACED])
    before = cluster.token()
    assert _unwrap(env, name, before) == (200, "")  # verified once, remembered while the key is current
    old = cluster.rotate()
    assert _unwrap(env, name, cluster.token()) == (200, "")
    assert _unwrap(env, name, before) == (403, "oidc-unknown-key")  # the remembered token went with its key
    assert _unwrap(env, name, cluster.token(key=old, kid="k8s-1")) == (403, "oidc-unknown-key")


SVID_RULE = {"name": "svid", "issuer": TD, "subject": APP_ID, "audience": AUDIENCE}


def test_an_iss_less_jwt_svid_of_the_trust_domain_decrypts(env: Env, spire: Spire) -> None:
    name = _key_with(env, [SVID_RULE])
    enc = env.encrypt(name)
    r = env.decrypt(name, enc, spire.svid())
    assert r.code == 0, r.err
    assert (env.w / "plain.txt").read_bytes() == SECRET
    assert _unwrap(env, name, spire.svid(iat=None)) == (200, "")  # the SVID format does not require iat
    assert _unwrap(env, name, spire.svid(iss=TD)) == (200, "")  # nor forbids naming the trust domain
    statements = [x["statement"] for x in _releases(env, name)]
    assert statements[0]["identity"] == {"iss": TD, "sub": APP_ID}
    regexp = _key_with(env, [{**SVID_RULE, "subject": None, "subjectRegexp": f"^{TD}/ns/prod/sa/[a-z]+$"}])
    assert _unwrap(env, regexp, spire.svid()) == (200, "")
    assert _unwrap(env, regexp, spire.svid(sub=TD + "/ns/dev/sa/app")) == (403, "policy-subject")


def test_svids_outside_the_trust_domain_or_without_aud_are_refused(env: Env, spire: Spire) -> None:
    name = _key_with(env, [SVID_RULE])
    for token, want in [
        (spire.svid(sub="spiffe://other.org/ns/prod/sa/app"), (403, "oidc-unknown-issuer")),
        (spire.svid(iss=TD, sub="spiffe://other.org/ns/prod/sa/app"), (403, "oidc-token-invalid")),
        (spire.svid(sub="system:serviceaccount:prod:app"), (403, "oidc-unknown-issuer")),
        (spire.svid(aud=None), (403, "evidence-invalid")),
        (spire.svid(aud=[]), (403, "evidence-invalid")),
        (spire.svid(exp=None), (403, "evidence-invalid")),
        (spire.svid(exp=int(time.time()) - 600), (403, "evidence-expired")),
        (spire.svid(aud=["reports"]), (403, "policy-audience")),
        (spire.svid(sub=TD + "/ns/prod/sa/other"), (403, "policy-subject")),
    ]:
        assert _unwrap(env, name, token) == want, jwt.decode(token, options={"verify_signature": False})
    assert {x["statement"]["decision"] for x in _releases(env, name)} == {"refused"}


def test_a_bad_key_file_stops_the_server_at_startup(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"keys": [{"kty": "RSA", "kid": "x", "n": "AQAB"}]}')
    for spec, words in [
        (f"{K8S_ISS}={tmp_path / 'bad.json'}", "is not a usable public key"),
        (f"{K8S_ISS}={tmp_path / 'missing.json'}", "cannot read"),
        (f"spiffe://Example.org={tmp_path / 'bad.json'}", "spiffe://TRUST-DOMAIN"),
    ]:
        r = run_assay("server", "--data-dir", str(tmp_path / "data"), "--port", "1", "--oidc-jwks", spec)
        assert r.code == 2, (r.out, r.err)
        assert r.err.strip().splitlines()[-1].startswith("error[bad-jwks]: ") and words in r.err, r.err
        assert "Traceback" not in r.err
