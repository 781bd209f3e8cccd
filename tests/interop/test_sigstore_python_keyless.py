"""The real sigstore-python CLI against an assay server, and bundles crossing both ways."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import run_assay
from tests.integration.conftest import dev_token

SIGSTORE = Path(sys.executable).parent / "sigstore"
SLSA = {
    "buildDefinition": {"buildType": "https://example.com/build/v1", "externalParameters": {}},
    "runDetails": {"builder": {"id": "https://example.com/builder"}},
}


def _sigstore(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SIGSTORE), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_sigstore_python_and_assay_interoperate(dev_server, tmp_path: Path):
    srv = dev_server
    issuer = srv.url + "/dev/oidc"
    (tmp_path / "trust.json").write_text(httpx.get(srv.url + "/api/v1/trustConfig").text)
    (tmp_path / "a.txt").write_text("cross-signed")
    (tmp_path / "b.txt").write_text("assay-signed")

    # sigstore-python signs against assay (CA, CT, log, TSA) and verifies its own bundle
    r = _sigstore(
        "--trust-config",
        "trust.json",
        "sign",
        "--identity-token",
        dev_token(srv, email="py@example.com"),
        "a.txt",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    bundle = json.loads((tmp_path / "a.txt.sigstore.json").read_text())
    assert bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
    r = _sigstore(
        "--trust-config",
        "trust.json",
        "verify",
        "identity",
        "--cert-identity",
        "py@example.com",
        "--cert-oidc-issuer",
        issuer,
        "a.txt",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    # assay accepts it; and rejects it for another identity
    ok = run_assay(
        "verify-blob",
        "a.txt",
        "--certificate-identity",
        "py@example.com",
        "--certificate-oidc-issuer",
        issuer,
        "--trusted-root",
        "trust.json",
        cwd=tmp_path,
    )
    assert ok.code == 0, ok.err
    no = run_assay(
        "verify-blob",
        "a.txt",
        "--certificate-identity",
        "x@example.com",
        "--certificate-oidc-issuer",
        issuer,
        "--trusted-root",
        "trust.json",
        cwd=tmp_path,
    )
    assert no.code == 1

    # assay signs; sigstore-python verifies (and refuses a wrong identity)
    r2 = run_assay(
        "sign-blob",
        "b.txt",
        "--identity-token",
        dev_token(srv, email="assay@example.com"),
        "--server",
        srv.url,
        cwd=tmp_path,
    )
    assert r2.code == 0, r2.err
    r = _sigstore(
        "--trust-config",
        "trust.json",
        "verify",
        "identity",
        "--cert-identity",
        "assay@example.com",
        "--cert-oidc-issuer",
        issuer,
        "b.txt",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    r = _sigstore(
        "--trust-config",
        "trust.json",
        "verify",
        "identity",
        "--cert-identity",
        "py@example.com",
        "--cert-oidc-issuer",
        issuer,
        "b.txt",
        cwd=tmp_path,
    )
    assert r.returncode != 0

    # DSSE attestations both ways
    (tmp_path / "pred.json").write_text(json.dumps(SLSA))
    r = _sigstore(
        "--trust-config", "trust.json", "attest", "--predicate", "pred.json", "--predicate-type", "https://slsa.dev/provenance/v1",
        "--identity-token", dev_token(srv, email="py@example.com"), "--bundle", "a.att.json", "a.txt", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    ok = run_assay(
        "verify-blob-attestation", "a.txt", "--bundle", "a.att.json", "--type", "slsaprovenance1",
        "--certificate-identity", "py@example.com", "--certificate-oidc-issuer", issuer, "--trusted-root", "trust.json", cwd=tmp_path,
    )  # fmt: skip
    assert ok.code == 0, ok.err
    r2 = run_assay(
        "attest-blob", "b.txt", "--predicate", "pred.json", "--type", "slsaprovenance1",
        "--identity-token", dev_token(srv, email="assay@example.com"), "--server", srv.url, "--bundle", "b.att.json", cwd=tmp_path,
    )  # fmt: skip
    assert r2.code == 0, r2.err
    r = _sigstore(
        "--trust-config", "trust.json", "verify", "identity", "--bundle", "b.att.json",
        "--cert-identity", "assay@example.com", "--cert-oidc-issuer", issuer, "b.txt", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr


def test_sigstore_python_refuses_what_assay_refuses(dev_server, tmp_path: Path):
    """An expired token: the CA refuses it, so neither client gets a certificate."""
    import time

    srv = dev_server
    (tmp_path / "trust.json").write_text(httpx.get(srv.url + "/api/v1/trustConfig").text)
    (tmp_path / "a.txt").write_text("x")
    expired = dev_token(srv, email="old@example.com", issuedAt=int(time.time()) - 7200, expiresIn=60)
    r = _sigstore("--trust-config", "trust.json", "sign", "--identity-token", expired, "a.txt", cwd=tmp_path)
    assert r.returncode != 0
    r2 = run_assay("sign-blob", "a.txt", "--identity-token", expired, "--server", srv.url, cwd=tmp_path)
    assert r2.code == 2 and "error[oidc-token-expired]" in r2.err
