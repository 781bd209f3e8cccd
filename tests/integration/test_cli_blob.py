"""The blob commands end to end through the installed console script."""

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.conftest import CONFORMANCE, run_assay


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "a.txt").write_bytes(b"release 1.0\n")
    r = run_assay("keygen", "--output-prefix", "k", cwd=tmp_path)
    assert r.code == 0, r.err
    return tmp_path


def test_sign_verify_tamper(work):
    assert run_assay("sign-blob", "a.txt", "--key", "k.key", cwd=work).code == 0
    bundle = json.loads((work / "a.txt.sigstore.json").read_text())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert bundle["verificationMaterial"]["tlogEntries"] == []
    assert "hint" in bundle["verificationMaterial"]["publicKey"]
    assert bundle["messageSignature"]["messageDigest"]["algorithm"] == "SHA2_256"
    ok = run_assay("verify-blob", "a.txt", "--key", "k.pub", cwd=work)
    assert ok.code == 0 and "Verified OK" in ok.out and "no tlog entry" in ok.err
    digest = hashlib.sha256(b"release 1.0\n").hexdigest()
    by_digest = run_assay(
        "verify-blob", f"sha256:{digest}", "--bundle", "a.txt.sigstore.json", "--key", "k.pub", "-o", "json", cwd=work
    )
    doc = json.loads(by_digest.out)
    assert (
        by_digest.code == 0
        and doc["verified"]
        and doc["steps"][2] == {"step": "tlog", "status": "skip", "detail": "no tlog entry"}
    )
    (work / "a.txt").write_bytes(b"release 1.1\n")
    bad = run_assay("verify-blob", "a.txt", "--key", "k.pub", "-o", "json", cwd=work)
    assert bad.code == 1
    assert json.loads(bad.out)["reason"] == "artifact-digest-mismatch"
    assert bad.err.strip().startswith("error[artifact-digest-mismatch]:")
    assert "Traceback" not in bad.err


def test_stdin_signing_and_verification(work):
    data = b"from a pipe"
    assert run_assay("sign-blob", "-", "--key", "k.key", "--bundle", "p.json", cwd=work, stdin=data).code == 0
    assert run_assay("verify-blob", "-", "--bundle", "p.json", "--key", "k.pub", cwd=work, stdin=data).code == 0
    assert run_assay("verify-blob", "-", "--bundle", "p.json", "--key", "k.pub", cwd=work, stdin=data + b"!").code == 1


@pytest.mark.parametrize("key_type", ["ed25519", "rsa-3072"])
def test_other_key_types(work, key_type):
    assert run_assay("keygen", "--type", key_type, "--output-prefix", key_type, cwd=work).code == 0
    assert run_assay("sign-blob", "a.txt", "--key", f"{key_type}.key", "--bundle", "b.json", cwd=work).code == 0
    assert run_assay("verify-blob", "a.txt", "--bundle", "b.json", "--key", f"{key_type}.pub", cwd=work).code == 0
    assert run_assay("verify-blob", "a.txt", "--bundle", "b.json", "--key", "k.pub", cwd=work).code == 1


def test_encrypted_key_with_password_file_and_env(work):
    (work / "pw").write_text("s3cret\n")
    assert run_assay("keygen", "--output-prefix", "enc", "--password-file", "pw", cwd=work).code == 0
    assert "ENCRYPTED" in (work / "enc.key").read_text()
    no_pw = run_assay("sign-blob", "a.txt", "--key", "enc.key", cwd=work, env={"ASSAY_PASSWORD": ""})
    assert no_pw.code == 2 and "error[key-password-required]" in no_pw.err
    assert run_assay("sign-blob", "a.txt", "--key", "enc.key", cwd=work, env={"ASSAY_PASSWORD": "s3cret"}).code == 0
    assert run_assay("verify-blob", "a.txt", "--key", "enc.pub", cwd=work).code == 0


def test_attest_and_verify_attestation(work):
    (work / "pred.json").write_text('{"builder": {"id": "x"}}')
    r = run_assay(
        "attest-blob",
        "a.txt",
        "--predicate",
        "pred.json",
        "--type",
        "slsaprovenance1",
        "--key",
        "k.key",
        "--bundle",
        "att.json",
        cwd=work,
    )
    assert r.code == 0, r.err
    env = json.loads((work / "att.json").read_text())["dsseEnvelope"]
    assert env["payloadType"] == "application/vnd.in-toto+json"
    ok = run_assay(
        "verify-blob-attestation",
        "a.txt",
        "--bundle",
        "att.json",
        "--key",
        "k.pub",
        "--type",
        "https://slsa.dev/provenance/v1",
        "-o",
        "json",
        cwd=work,
    )
    assert ok.code == 0, ok.err
    assert json.loads(ok.out)["statement"]["predicateType"] == "https://slsa.dev/provenance/v1"
    wrong = run_assay(
        "verify-blob-attestation",
        "a.txt",
        "--bundle",
        "att.json",
        "--key",
        "k.pub",
        "--type",
        "spdxjson",
        "-o",
        "json",
        cwd=work,
    )
    assert wrong.code == 1 and json.loads(wrong.out)["reason"] == "predicate-type-mismatch"
    (work / "b.txt").write_text("other")
    subj = run_assay("verify-blob-attestation", "b.txt", "--bundle", "att.json", "--key", "k.pub", cwd=work)
    assert subj.code == 1 and "error[subject-digest-mismatch]" in subj.err


def _bad(work, *args, reason, stdin=None):
    r = run_assay(*args, cwd=work, stdin=stdin)
    assert r.code == 2, (r.code, r.err)
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert lines[-1].startswith(f"error[{reason}]:"), r.err
    assert "Traceback" not in r.err


def test_bad_input_exit_2(work):
    assert run_assay("sign-blob", "a.txt", "--key", "k.key", cwd=work).code == 0
    good = json.loads((work / "a.txt.sigstore.json").read_text())
    (work / "malformed.json").write_text('{"mediaType": ')
    _bad(work, "verify-blob", "a.txt", "--bundle", "malformed.json", "--key", "k.pub", reason="malformed-json")
    unknown = dict(good, mediaType="application/vnd.dev.sigstore.bundle.v9+json")
    (work / "unknown.json").write_text(json.dumps(unknown))
    _bad(work, "verify-blob", "a.txt", "--bundle", "unknown.json", "--key", "k.pub", reason="unknown-bundle-media-type")
    trunc = json.loads(json.dumps(good))
    trunc["messageSignature"]["signature"] = trunc["messageSignature"]["signature"][:-3]
    (work / "trunc.json").write_text(json.dumps(trunc))
    _bad(work, "verify-blob", "a.txt", "--bundle", "trunc.json", "--key", "k.pub", reason="malformed-base64")
    _bad(work, "verify-blob", "a.txt", "--key", "k.key", reason="private-key-given")
    _bad(work, "keygen", "--type", "dsa", "--output-prefix", "d", reason="unsupported-key-type")
    _bad(
        work, "verify-blob", "missing.txt", "--bundle", "a.txt.sigstore.json", "--key", "k.pub", reason="file-not-found"
    )
    os.mkdir(work / "dir")
    _bad(work, "verify-blob", "dir", "--bundle", "a.txt.sigstore.json", "--key", "k.pub", reason="is-a-directory")
    _bad(work, "verify-blob", "a.txt", "--bundle", "dir", "--key", "k.pub", reason="is-a-directory")
    _bad(work, "sign-blob", "a.txt", "--key", "k.pub", "--bundle", "x.json", reason="public-key-given")
    _bad(work, "verify-blob", "a.txt", "--bogus-flag", reason="usage")
    _bad(
        work,
        "verify-blob-attestation",
        "a.txt",
        "--bundle",
        "a.txt.sigstore.json",
        "--key",
        "k.pub",
        "--type",
        "nonsense",
        reason="unknown-predicate-type",
    )


def test_existing_key_is_not_overwritten(work):
    before = (work / "k.key").read_bytes()
    r = run_assay("keygen", "--output-prefix", "k", cwd=work)
    assert r.code == 2
    assert (work / "k.key").read_bytes() == before


def test_conformance_bundle_by_key_is_rejected_without_trust_root(work):
    case = CONFORMANCE / "bundle-verify" / "managed-key-wrong-key_fail"
    if not (case / "key.pub").exists():
        pytest.skip("case has no key")
    r = run_assay(
        "verify-blob",
        str(CONFORMANCE / "bundle-verify" / "a.txt"),
        "--bundle",
        str(case / "bundle.sigstore.json"),
        "--key",
        str(case / "key.pub"),
    )
    assert r.code in (1, 2) and "Traceback" not in r.err
