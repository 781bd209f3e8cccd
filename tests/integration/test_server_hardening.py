"""Issue 14, server side: every finding gets a 4xx with its reason code, against a real server."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from rfc3161_client import TimestampRequestBuilder

from assay.ca.oidc import jwk_of
from assay.formats.dsse import pae
from assay.log.entries import hashedrekord_proposal
from tests.conftest import loopback_http
from tests.integration.attack import Appender, Attack, p99, probe, worst_dsse
from tests.integration.conftest import ServerProcess, dev_token

KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
PEM_B64 = base64.b64encode(PEM).decode()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One --dev server on SQLite shared by the rejection tests (they do not depend on each other's state)."""
    server = ServerProcess(tmp_path_factory.mktemp("hardening") / "data", None, extra=["--dev"]).start()
    try:
        yield server
    finally:
        server.stop()


def hashedrekord(data: bytes) -> dict:
    digest = hashlib.sha256(data).digest()
    return hashedrekord_proposal(KEY.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))), digest, PEM)


def dsse(payload: bytes, n_sigs: int = 1, verifiers: list[str] | None = None, payload_type: str = "text/plain") -> dict:
    message = pae(payload_type, payload)
    sigs = [KEY.sign(message, ec.ECDSA(hashes.SHA256())) for _ in range(n_sigs)]
    envelope = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": payload_type,
        "signatures": [{"sig": base64.b64encode(s).decode()} for s in sigs],
    }
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {"proposedContent": {"envelope": json.dumps(envelope), "verifiers": verifiers or [PEM_B64]}},
    }


def post_raw(srv: ServerProcess, path: str, content: bytes, **kw: object) -> httpx.Response:
    return httpx.post(srv.url + path, content=content, headers={"Content-Type": "application/json"}, timeout=60, **kw)


def refused(r: httpx.Response, status: int, reason: str) -> None:
    assert r.status_code == status, r.text
    doc = r.json()
    assert doc["reason"] == reason and doc["code"] == status and doc["message"], doc


# ---- the 14 s DSSE freeze: per-entry limits ------------------------------------------------


def test_dsse_limits(srv):
    many_verifiers = [PEM_B64] * 300
    refused(
        httpx.post(srv.url + "/api/v1/log/entries", json=dsse(b"x", 1, many_verifiers), timeout=60),
        400,
        "entry-too-many-verifiers",
    )
    refused(
        httpx.post(srv.url + "/api/v1/log/entries", json=dsse(b"x", 9), timeout=60), 400, "entry-too-many-signatures"
    )
    same = dsse(b"same sig")
    env = json.loads(same["spec"]["proposedContent"]["envelope"])
    env["signatures"] = env["signatures"] * 2
    same["spec"]["proposedContent"]["envelope"] = json.dumps(env)
    refused(httpx.post(srv.url + "/api/v1/log/entries", json=same, timeout=60), 400, "entry-duplicate-signature")
    ok = httpx.post(srv.url + "/api/v1/log/entries", json=dsse(b"within limits", 8), timeout=60)
    assert ok.status_code == 201, ok.text


def test_lone_surrogate_and_deep_nesting_on_every_post(srv):
    doc = dsse(b"x")
    envelope = doc["spec"]["proposedContent"]["envelope"]
    doc["spec"]["proposedContent"]["envelope"] = envelope.replace('"text/plain"', '"\\ud800"')
    assert "\\ud800" in doc["spec"]["proposedContent"]["envelope"]
    refused(httpx.post(srv.url + "/api/v1/log/entries", json=doc, timeout=30), 400, "json-invalid")
    refused(post_raw(srv, "/api/v1/log/entries", b'{"kind": "\\ud800"}'), 400, "json-invalid")
    deep = b"[" * 100_000
    for path in ("/api/v1/log/entries", "/api/v1/log/entries/retrieve", "/api/v2/signingCert", "/dev/oidc/token"):
        refused(post_raw(srv, path, deep), 400, "json-too-deep")
    token = {"credentials": {"oidcIdentityToken": "\ud800"}}
    r = post_raw(srv, "/api/v2/signingCert", json.dumps(token).encode())
    refused(r, 400, "json-invalid")


# ---- whitespace in hashedrekord hash.value ------------------------------------------------


@pytest.mark.parametrize(
    "mangle", [lambda h: " " + h, lambda h: h + "\n", lambda h: h.upper(), lambda h: h[:32] + " " + h[32:]]
)
def test_digest_must_be_exact_hex(srv, mangle):
    doc = hashedrekord(b"whitespace " + secrets.token_bytes(8))
    value = doc["spec"]["data"]["hash"]["value"]
    doc["spec"]["data"]["hash"]["value"] = mangle(value)
    refused(httpx.post(srv.url + "/api/v1/log/entries", json=doc, timeout=30), 400, "entry-malformed")
    doc["spec"]["data"]["hash"]["value"] = value
    first = httpx.post(srv.url + "/api/v1/log/entries", json=doc, timeout=30)
    assert first.status_code == 201, first.text
    again = httpx.post(srv.url + "/api/v1/log/entries", json=doc, timeout=30)
    refused(again, 409, "entry-exists")
    assert again.headers["Location"] == first.headers["Location"]
    found = httpx.post(srv.url + "/api/v1/log/entries/retrieve", json={"hash": f"sha256:{value}"}).json()
    assert [next(iter(e)) for e in found] == [next(iter(first.json()))]
    refused(httpx.post(srv.url + "/api/v1/log/entries/retrieve", json={"hash": mangle(value)}), 400, "digest-malformed")


# ---- retrieve amplification and malformed reads -------------------------------------------


def test_retrieve_limits(srv):
    assert httpx.post(srv.url + "/api/v1/log/entries", json=hashedrekord(b"retrieve me")).status_code in (201, 409)
    url = srv.url + "/api/v1/log/entries/retrieve"
    refused(httpx.post(url, json={"logIndexes": [0] * 20_000}), 400, "too-many-items")
    refused(httpx.post(url, json={"entryUUIDs": ["00" * 32] * 11}), 400, "too-many-items")
    refused(httpx.post(url, json={"logIndexes": 5}), 400, "bad-index")
    refused(httpx.post(url, json={"logIndexes": [2**63]}), 400, "bad-index")
    refused(httpx.post(url, json={"logIndexes": ["0"]}), 400, "bad-index")
    refused(httpx.post(url, json={"logIndexes": [True]}), 400, "bad-index")
    refused(httpx.post(url, json={"entryUUIDs": [" " + "00" * 32]}), 400, "bad-uuid")
    refused(post_raw(srv, "/api/v1/log/entries/retrieve", b"[]"), 400, "json-invalid")
    ok = httpx.post(url, json={"logIndexes": [0] * 10})
    assert ok.status_code == 200 and len(ok.json()) == 10


def test_index_and_tile_parameters(srv):
    for value in (str(2**63), "²", "-1", "1e3", " 1", "0x10"):
        r = httpx.get(srv.url + "/api/v1/log/entries", params={"logIndex": value})
        refused(r, 400, "bad-index")
    refused(httpx.get(srv.url + "/api/v1/log/proof", params={"firstSize": 0, "lastSize": 2**63}), 400, "bad-tree-size")
    for path in (
        "/tile/%C2%B2/000",
        "/tile/0/%C2%B2%C2%B2%C2%B2",
        "/tile/0/000.p/%C2%B2",
        "/tile/9/000",
        "/tile/0/x001/x001/x001/x001/x001/x001/x001/000",
    ):
        refused(httpx.get(srv.url + path), 400, "bad-tile-path")
    refused(httpx.get(srv.url + "/api/v1/log/entries/" + "00" * 31 + "0 "), 400, "bad-uuid")
    assert httpx.get(srv.url + "/api/v1/log/entries", params={"logIndex": str(2**63 - 1)}).status_code == 404


# ---- trusted tokens with bad claims --------------------------------------------------------


def _signing_cert(srv: ServerProcess, token: str) -> httpx.Response:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    challenge = jwt.decode(token, options={"verify_signature": False}).get("email", "x")
    proof = key.sign(str(challenge).encode(), ec.ECDSA(hashes.SHA256()))
    body = {
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"content": pem.decode()},
            "proofOfPossession": base64.b64encode(proof).decode(),
        },
    }
    return httpx.post(srv.url + "/api/v2/signingCert", json=body, timeout=30)


def test_trusted_token_claims_are_validated(srv):
    assert _signing_cert(srv, dev_token(srv, email="fine@example.com")).status_code == 201
    cases = {
        "oidc-identity-invalid": ["é@example.com", "a@example.com\nb@evil.example", "a b@example.com", "@example.com"],
    }
    for reason, emails in cases.items():
        for email in emails:
            refused(_signing_cert(srv, dev_token(srv, email=email)), 401, reason)
    refused(
        _signing_cert(srv, dev_token(srv, email="a@example.com", claims={"iat": str(int(time.time()))})),
        401,
        "oidc-token-invalid",
    )
    refused(_signing_cert(srv, dev_token(srv, email="a@example.com", claims={"sub": 7})), 401, "oidc-token-invalid")
    gh = dev_token(srv, "github", repository="o/r\nx")
    refused(_signing_cert(srv, gh), 401, "oidc-identity-invalid")
    refused(httpx.post(srv.url + "/dev/oidc/token", json={"expiresIn": "600"}), 400, "request-invalid")
    refused(
        httpx.post(srv.url + "/api/v2/signingCert", json={"credentials": {"oidcIdentityToken": 5}}),
        400,
        "request-invalid",
    )
    refused(
        httpx.post(srv.url + "/api/v2/signingCert", json={"credentials": {"oidcIdentityToken": "é" * 10}}),
        401,
        "oidc-token-malformed",
    )


# ---- TSA: DER only ---------------------------------------------------------------------------


def test_tsa_accepts_der_only(srv):
    req = TimestampRequestBuilder().data(b"sig").nonce(nonce=True).cert_request(cert_request=True).build().as_bytes()
    url = srv.url + "/api/v1/timestamp"
    headers = {"Content-Type": "application/timestamp-query"}
    assert httpx.post(url, content=req, headers=headers).status_code == 200
    refused(httpx.post(url, content=req + b"\x00", headers=headers), 400, "timestamp-request-malformed")
    assert req[1] < 0x80  # short-form length: rebuild it with a BER indefinite length
    ber = b"\x30\x80" + req[2:] + b"\x00\x00"
    refused(httpx.post(url, content=ber, headers=headers), 400, "timestamp-request-not-der")


# ---- concurrent identical appends ---------------------------------------------------------


def test_concurrent_identical_appends_one_created(server):
    body = json.dumps(hashedrekord(b"race " + secrets.token_bytes(8))).encode()
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: post_raw(server, "/api/v1/log/entries", body), range(20)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] + [409] * 19, statuses
    created = next(r for r in answers if r.status_code == 201)
    uuid = next(iter(created.json()))
    for r in answers:
        assert r.headers["Location"] == f"/api/v1/log/entries/{uuid}"
        if r.status_code == 409:
            assert r.json()["reason"] == "entry-exists"
    assert httpx.get(server.url + "/api/v1/log").json()["treeSize"] == 1


# ---- OIDC: slow and hostile issuers ---------------------------------------------------------


class _Issuer(BaseHTTPRequestHandler):
    """An OIDC issuer on loopback; class attributes set per test."""

    delay = 0.0
    jwks: ClassVar[dict] = {}
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        time.sleep(self.delay)
        host = self.headers["Host"]
        if self.path == "/.well-known/openid-configuration":
            doc = {"issuer": f"http://{host}", "jwks_uri": f"http://{host}/jwks"}
        elif self.path == "/jwks":
            doc = self.jwks
        else:
            self.send_error(404)
            return
        data = json.dumps(doc).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


def _token(issuer: str, key: ec.EllipticCurvePrivateKey, kid: str, alg: str = "ES256") -> str:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": "a@example.com",
        "email": "a@example.com",
        "email_verified": True,
        "aud": "sigstore",
        "iat": now,
        "exp": now + 300,
    }
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


@pytest.mark.slow
def test_slow_issuer_does_not_stall_and_failures_are_cached(tmp_path: Path):
    handler = type("Slow", (_Issuer,), {"delay": 8.0, "hits": [], "jwks": {"keys": []}})
    with loopback_http(handler) as host:
        issuer = f"http://{host}"
        ca = ServerProcess(tmp_path / "ca", None, extra=["--oidc-issuer", f"{issuer}=email"]).start()
        try:
            key = ec.generate_private_key(ec.SECP256R1())
            with ThreadPoolExecutor(2) as pool:
                pending = pool.submit(_signing_cert, ca, _token(issuer, key, "k1"))
                time.sleep(0.5)
                lat = []
                for _ in range(20):
                    t = time.perf_counter()
                    assert httpx.get(ca.url + "/healthz", timeout=5).status_code == 200
                    lat.append(time.perf_counter() - t)
                slow = pending.result()
            assert max(lat) < 1.0, lat
            refused(slow, 503, "oidc-discovery-failed")
            t = time.perf_counter()
            for i in range(5):  # random kids: the failure is remembered, no new fetch
                refused(_signing_cert(ca, _token(issuer, key, f"random-{i}")), 503, "oidc-discovery-failed")
            assert time.perf_counter() - t < 3
            assert handler.hits == ["/.well-known/openid-configuration"]
        finally:
            ca.stop()


def test_random_kids_refetch_at_most_once_and_alg_must_match(tmp_path: Path):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    good, mismatched = jwk_of(pem, "good"), {**jwk_of(pem, "p384"), "alg": "ES384"}
    handler = type("Fast", (_Issuer,), {"hits": [], "jwks": {"keys": [good, mismatched]}})
    with loopback_http(handler) as host:
        issuer = f"http://{host}"
        ca = ServerProcess(tmp_path / "ca", None, extra=["--oidc-issuer", f"{issuer}=email"]).start()
        try:
            assert _signing_cert(ca, _token(issuer, key, "good")).status_code == 201
            refused(_signing_cert(ca, _token(issuer, key, "p384")), 401, "oidc-algorithm-mismatch")
            for _ in range(10):
                refused(_signing_cert(ca, _token(issuer, key, secrets.token_hex(8))), 401, "oidc-unknown-key")
            assert handler.hits.count("/jwks") == 1, handler.hits
        finally:
            ca.stop()


# ---- the event loop stays free under attack ------------------------------------------------


@pytest.mark.slow
def test_healthz_and_appends_answer_under_attack(srv):
    appender = Appender()
    bodies = [worst_dsse() for _ in range(2)] + [worst_dsse(payload_bytes=64) for _ in range(2)]
    with Attack(srv.url, bodies) as attack:
        health, appends = probe(srv.url, 8.0, appender)
    assert attack.statuses and all(s in (201, 409, 503) for s in attack.statuses), set(attack.statuses)
    assert p99(health) < 1.0, sorted(health)[-5:]
    assert p99(appends) < 1.0, sorted(appends)[-5:]
