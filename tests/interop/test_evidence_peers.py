"""Evidence made by sigstore-python (``sigstore attest`` against an assay server) is stored, verified and found."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.accesskit import project_server
from tests.integration.conftest import dev_token

SIGSTORE = Path(sys.executable).parent / "sigstore"
SLSA = {
    "buildDefinition": {
        "buildType": "https://example.com/build/v1",
        "externalParameters": {},
        "resolvedDependencies": [{"uri": "git+https://example.com/src", "digest": {"sha256": "cd" * 32}}],
    },
    "runDetails": {"builder": {"id": "https://example.com/builder"}},
}


def test_sigstore_python_attestation_is_stored_verified_and_found(database: str | None, tmp_path: Path):
    ps = project_server(tmp_path, database, "py", "ci@example.com")
    try:
        _attest_store_find(ps, tmp_path)
    finally:
        ps.srv.stop()


def _attest_store_find(ps, tmp_path: Path) -> None:
    srv, admin, ci = ps.srv, ps.auth(), ps.auth(ps.publisher)
    (tmp_path / "trust.json").write_text(httpx.get(srv.url + "/api/v1/trustConfig").text)
    (tmp_path / "app.tar").write_bytes(b"built by sigstore-python's user")
    (tmp_path / "prov.json").write_text(json.dumps(SLSA))
    r = subprocess.run(
        [str(SIGSTORE), "--trust-config", "trust.json", "attest", "--predicate", "prov.json", "--predicate-type",
         "https://slsa.dev/provenance/v1", "--identity-token", dev_token(srv, email="py@example.com"),
         "--rekor-version", "1", "app.tar"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    bundle = (tmp_path / "app.tar.sigstore.json").read_bytes()
    api = f"{srv.url}/api/v1/projects/py/evidence"
    # pinned to another identity: refused with the verification reason
    pinned = {"identities": [{"identity": "release@example.com", "issuer": srv.url + "/dev/oidc"}]}
    assert httpx.put(f"{srv.url}/api/v1/projects/py/trust", json=pinned, headers=admin).status_code == 200
    resp = httpx.post(api, content=bundle, headers=ci)
    assert resp.status_code == 422 and resp.json()["reason"] == "identity-mismatch"
    pinned["identities"][0]["identity"] = "py@example.com"
    assert httpx.put(f"{srv.url}/api/v1/projects/py/trust", json=pinned, headers=admin).status_code == 200
    resp = httpx.post(api, content=bundle, headers=ci)
    assert resp.status_code == 201, resp.text
    digest = "sha256:" + hashlib.sha256((tmp_path / "app.tar").read_bytes()).hexdigest()
    found = httpx.get(api, params={"subject": digest}, headers=ci).json()["items"]
    assert len(found) == 1
    assert found[0]["signer"]["identity"] == "py@example.com"
    assert found[0]["predicateType"] == "https://slsa.dev/provenance/v1"
    assert httpx.get(f"{api}/{found[0]['digest']}", headers=ci).content == bundle
    # the graph reaches the resolved dependency named in the provenance
    g = httpx.get(f"{srv.url}/api/v1/projects/py/graph", params={"subject": digest}, headers=ci).json()
    assert any(e["to"] == "sha256:" + "cd" * 32 and e["relation"] == "resolvedDependency" for e in g["edges"])
    # and the DSSE entry sigstore-python logged is searchable the Rekor way, by email
    uuids = httpx.post(srv.url + "/api/v1/index/retrieve", json={"email": "py@example.com"}).json()
    assert len(uuids) == 1
