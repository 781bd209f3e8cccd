"""``verify-blob`` and ``verify-blob-attestation`` on real bundles: any digest algorithm, shipped roots picked offline."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.conftest import run_assay

DATA = Path(__file__).resolve().parents[1] / "data" / "realworld"
JAVA = DATA / "java"
ID = ["--certificate-identity", "untrusted-sa@sigstore-conformance.iam.gserviceaccount.com"]
GOOGLE = ["--certificate-oidc-issuer", "https://accounts.google.com"]
ACTIONS = ["--certificate-oidc-issuer", "https://token.actions.githubusercontent.com"]


def test_p521_by_file_and_by_sha512_digest() -> None:
    bundle = str(JAVA / "PKIX_ECDSA_P521_SHA_512.sigstore.json")
    artifact = JAVA / "artifact.txt"
    assert run_assay("verify-blob", str(artifact), "--bundle", bundle, *ID, *GOOGLE).code == 0
    sha512 = hashlib.sha512(artifact.read_bytes()).hexdigest()
    r = run_assay("verify-blob", f"sha512:{sha512}", "--bundle", bundle, *ID, *GOOGLE, "-o", "json")
    assert r.code == 0, r.err
    wrong = hashlib.sha512(b"another artifact").hexdigest()
    r = run_assay("verify-blob", f"sha512:{wrong}", "--bundle", bundle, *ID, *GOOGLE)
    assert r.code == 1 and "error[tlog-body-mismatch]" in r.err
    sha256 = hashlib.sha256(artifact.read_bytes()).hexdigest()
    r = run_assay("verify-blob", f"sha256:{sha256}", "--bundle", bundle, *ID, *GOOGLE)
    assert r.code == 2 and "error[artifact-digest-unavailable]" in r.err


def test_npm_provenance_with_verify_blob_attestation() -> None:
    tgz = DATA / "cli" / "sigstore-js-2.1.0.tgz"
    bundle = str(DATA / "cli" / "sigstore-js-2.1.0-bundle.json")
    wf = ["--certificate-identity-regexp", r"https://github\.com/sigstore/sigstore-js/.*", *ACTIONS]
    r = run_assay("verify-blob-attestation", str(tgz), "--bundle", bundle, *wf, "--type", "slsaprovenance1")
    assert r.code == 0, r.err


def test_github_private_instance_is_picked_offline() -> None:
    whl = DATA / "cli" / "github_provenance_demo-0.0.12-py3-none-any.whl"
    bundle = str(DATA / "cli" / "github_provenance_demo-0.0.12-py3-none-any-bundle.jsonl")
    wf = ["--certificate-identity-regexp", r"https://github\.com/actions/attest-demo/.*", *ACTIONS]
    r = run_assay("verify-blob-attestation", str(whl), "--bundle", bundle, *wf, "-o", "json")
    assert r.code == 0, r.err
    assert '"status": "skip"' in r.out  # no SCT, no log entry: GitHub's root names neither
    r = run_assay("verify-blob-attestation", str(whl), "--bundle", bundle, *wf, "--require-tlog")
    assert r.code == 1 and "error[missing-tlog-entry]" in r.err
