"""Every POST/PUT body the server accepts, fuzzed against a real server: never a 5xx, always a reason.

Routes are discovered from the running server's OpenAPI document (plus the --dev issuer's hidden routes),
so a new endpoint joins this suite without an edit; a route without a seed is fuzzed from ``{}``. Requests
carry a server administrator's session, so the handlers' own parsing is reached (not only the 401).
The pass is seeded and short; ``benchmarks/fuzz.py`` runs the long in-process one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from assay.log.entries import hashedrekord_proposal
from tests.fuzz.mutate import mutate, mutate_bytes
from tests.integration.conftest import ServerProcess, dev_token

PER_ROUTE = 100
HIDDEN_POSTS = ["/dev/oidc/token", "/dev/oidc/github/token", "/dev/oidc/device/code", "/dev/oidc/oauth-token"]
KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    extra = ["--dev", "--login-rate-limit", "100000/m"]
    server = ServerProcess(tmp_path_factory.mktemp("bodies") / "data", None, extra=extra).start()
    try:
        yield server
    finally:
        server.stop()


def _seeds(srv: ServerProcess, token: str, project: str) -> dict[str, Any]:
    digest = hashlib.sha256(b"fuzz").digest()
    entry = hashedrekord_proposal(KEY.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))), digest, PEM)
    pop = KEY.sign(b"someone@example.com", ec.ECDSA(hashes.SHA256()))
    return {
        "/api/v1/log/entries": entry,
        "/api/v1/log/entries/retrieve": {"logIndexes": [0], "entryUUIDs": ["0" * 64]},
        "/api/v1/index/retrieve": {"hash": "sha256:" + digest.hex(), "operator": "and"},
        "/api/v2/signingCert": {
            "credentials": {"oidcIdentityToken": token},
            "publicKeyRequest": {
                "publicKey": {"algorithm": "ECDSA", "content": PEM.decode()},
                "proofOfPossession": base64.b64encode(pop).decode(),
            },
        },
        "/api/v1/auth/session": {"identityToken": token},
        "/api/v1/projects": {"name": "fuzz-top"},
        "/api/v1/projects/{project}/children": {"name": "fuzz-child"},
        "/api/v1/projects/{project}/grants": {
            "issuer": srv.url + "/dev/oidc",
            "subject": "x@example.com",
            "role": "viewer",
        },
        "/api/v1/projects/{project}/grants/revoke": {"issuer": srv.url + "/dev/oidc", "subject": "x@example.com"},
        "/api/v1/projects/{project}/tokens": {"role": "viewer", "name": "fuzz", "expires": "30d"},
        "/dev/oidc/token": {"email": "someone@example.com"},
    }


def _routes(srv: ServerProcess) -> list[tuple[str, str]]:
    doc = httpx.get(srv.url + "/openapi.json", timeout=10).json()
    found = [(m.upper(), p) for p, ops in doc["paths"].items() for m in ops if m in ("post", "put")]
    return sorted(set(found) | {("POST", p) for p in HIDDEN_POSTS})


def test_no_post_body_gets_a_5xx(srv: ServerProcess) -> None:
    token = dev_token(srv, email="admin@example.com")
    session = httpx.post(srv.url + "/api/v1/auth/session", json={"identityToken": token}, timeout=10)
    assert session.status_code == 200, session.text
    headers = {"Authorization": f"Bearer {session.json()['session']}", "Content-Type": "application/json"}
    project = "fuzz-" + hashlib.sha256(srv.url.encode()).hexdigest()[:8]
    made = httpx.post(srv.url + "/api/v1/projects", json={"name": project}, headers=headers, timeout=10)
    assert made.status_code == 201, made.text
    seeds = _seeds(srv, token, project)
    routes = _routes(srv)
    assert ("POST", "/api/v1/log/entries") in routes and ("POST", "/api/v2/signingCert") in routes
    rng = random.Random(20261130)
    failures: list[str] = []
    with httpx.Client(timeout=60) as client:
        for method, path in routes:
            url = srv.url + path.replace("{project}", project).replace("{token_id}", "0" * 16)
            for name in ("{name}", "{version}", "{digest}"):
                url = url.replace(name, "x")
            if path == "/api/v1/timestamp":
                seed, kind = _tsq(), "application/timestamp-query"
            else:
                seed, kind = json.dumps(seeds.get(path, {})).encode(), "application/json"
            for i in range(PER_ROUTE):
                body = mutate_bytes(seed, rng) if kind != "application/json" else mutate(seed, rng)
                r = client.request(method, url, content=body, headers={**headers, "Content-Type": kind})
                if r.status_code >= 500:
                    failures.append(f"{method} {path} #{i}: {r.status_code} {r.text[:200]} for {body[:200]!r}")
                elif r.status_code >= 400 and r.headers.get("content-type", "").startswith("application/json"):
                    doc = r.json()
                    oauth = path.startswith("/dev/oidc") and "error" in doc  # RFC 6749 error responses
                    if "reason" not in doc and not oauth:
                        failures.append(f"{method} {path} #{i}: {r.status_code} without a reason: {r.text[:200]}")
    assert not failures, "\n".join(failures[:20])
    assert httpx.get(srv.url + "/healthz", timeout=10).status_code == 200


def _tsq() -> bytes:
    from rfc3161_client import TimestampRequestBuilder

    return TimestampRequestBuilder().data(b"fuzz").nonce(nonce=True).build().as_bytes()
