"""verify-blob on public-good bundles: identity flags, claims in JSON, offline public-good root."""

import json

import pytest

from assay.verify import memo
from tests.conftest import CONFORMANCE, run_assay

CASE = CONFORMANCE / "bundle-verify" / "happy-path-v0.3"
ARTIFACT = CONFORMANCE / "bundle-verify" / "a.txt"
ID = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
ISS = "https://token.actions.githubusercontent.com"


def _verify(*extra: str):
    return run_assay("verify-blob", str(ARTIFACT), "--bundle", str(CASE / "bundle.sigstore.json"), *extra)


def test_public_good_root_is_shipped_and_claims_are_reported():
    r = _verify("--certificate-identity", ID, "--certificate-oidc-issuer", ISS, "-o", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert [s["step"] for s in doc["steps"]] == [
        "material",
        "time",
        "certificate-chain",
        "sct",
        "key-usage",
        "identity",
        "tlog",
        "signature",
    ]
    assert doc["claims"]["sourceRepositoryRef"] == "refs/heads/main"
    assert doc["signer"] == {"type": "certificate", "subject": ID, "issuer": ISS}
    assert doc["tlog"][0]["inclusionProof"] is True


def test_extension_matchers_and_github_flags():
    ok = _verify(
        "--certificate-identity-regexp",
        r"https://github\.com/sigstore-conformance/.*",
        "--certificate-oidc-issuer",
        ISS,
        "--certificate-extension",
        "sourceRepositoryRef=refs/heads/main",
        "--certificate-extension",
        "1.3.6.1.4.1.57264.1.11=github-hosted",
        "--certificate-github-workflow-trigger",
        "workflow_dispatch",
    )
    assert ok.code == 0, ok.err
    bad = _verify(
        "--certificate-identity",
        ID,
        "--certificate-oidc-issuer",
        ISS,
        "--certificate-github-workflow-ref",
        "refs/heads/evil",
        "-o",
        "json",
    )
    assert bad.code == 1 and json.loads(bad.out)["reason"] == "extension-mismatch"


@pytest.mark.parametrize(
    ("flags", "code", "reason"),
    [
        (["--certificate-identity", "x@example.com", "--certificate-oidc-issuer", ISS], 1, "identity-mismatch"),
        (
            ["--certificate-identity", ID, "--certificate-oidc-issuer", "https://accounts.google.com"],
            1,
            "issuer-mismatch",
        ),
        ([], 2, "identity-required"),
        (["--certificate-identity", ID], 2, "issuer-required"),
        (
            ["--certificate-identity", ID, "--certificate-oidc-issuer", ISS, "--certificate-extension", "nope=1"],
            2,
            "unknown-certificate-extension",
        ),
        (
            [
                "--certificate-identity",
                ID,
                "--certificate-oidc-issuer",
                ISS,
                "--trusted-root",
                str(CONFORMANCE / "bundle-verify" / "rekor2-happy-path" / "trusted_root.json"),
            ],
            1,
            "tlog-unknown-log",
        ),
    ],
)
def test_rejections(flags, code, reason):
    r = _verify(*flags)
    assert r.code == code, r.err
    assert r.err.strip().splitlines()[-1].startswith(f"error[{reason}]"), r.err


def test_memo_never_turns_a_rejection_into_an_acceptance():
    from tests.interop.test_differential_sigstore import _assay

    doc = json.loads((CASE / "bundle.sigstore.json").read_text())
    trust = CONFORMANCE / "public-good" / "trusted_root.json"
    data = ARTIFACT.read_bytes()
    memo.set_enabled(True)
    assert _assay(doc, data, trust, ID, ISS)
    assert _assay(doc, data, trust, ID, ISS)  # served from the memo
    assert not _assay(doc, data, trust, ID.replace("main", "evil"), ISS)  # identity is never memoised
    assert not _assay(doc, data + b"x", trust, ID, ISS)
