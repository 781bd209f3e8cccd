"""cosign's detached .sig/.pem files and legacy bundle, through the one verification pipeline (issue 28, items 2-3).

Real material: sigstore-python's ``offline-rekor.txt`` signature, certificate and Rekor SET (2022, staging),
assembled in cosign's legacy bundle shape (tests/data/realworld/legacy/README.md). Produced material: bundles and
detached files made by assay's own signer against a ``--dev`` server.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_assay
from tests.integration.conftest import ServerProcess, dev_token

DATA = Path(__file__).parents[1] / "data" / "realworld"
LEGACY = DATA / "legacy"
STAGING_ROOT = DATA / "staging" / "staging-trusted-root.json"
REAL_ID = (
    "--certificate-identity",
    "william@yossarian.net",
    "--certificate-oidc-issuer",
    "https://github.com/login/oauth",
)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("cosign") / "data", None, extra=["--dev"]).start()
    try:
        yield srv
    finally:
        srv.stop()


def _dev_id(dev: ServerProcess) -> tuple[str, ...]:
    return ("--certificate-identity", "dev@example.com", "--certificate-oidc-issuer", dev.url + "/dev/oidc")


def _staging_2022_root(tmp_path: Path) -> Path:
    """Staging's trusted root as it was in 2022: its RSA CT log key had no end date then (it ends in July 2022 now,
    which refuses the October 2022 SCT in the real certificate). Only that end date is removed."""
    doc = json.loads(STAGING_ROOT.read_text())
    for ct in doc["ctlogs"]:
        if ct["publicKey"]["keyDetails"] == "PKCS1_RSA_PKCS1V5":
            ct["publicKey"]["validFor"].pop("end", None)
    out = tmp_path / "staging-2022.json"
    out.write_text(json.dumps(doc))
    return out


def _legacy(tmp_path: Path, mutate=None) -> Path:
    doc = json.loads((LEGACY / "offline-rekor.txt.cosign.bundle").read_text())
    if mutate:
        mutate(doc)
    out = tmp_path / "legacy.json"
    out.write_text(json.dumps(doc))
    return out


def _verify_legacy(tmp_path: Path, bundle: Path, artifact: Path = LEGACY / "offline-rekor.txt"):
    root = _staging_2022_root(tmp_path)
    return run_assay(
        "verify-blob", str(artifact), "--bundle", str(bundle), "--trusted-root", str(root), *REAL_ID, "-o", "json"
    )


# ---- the legacy bundle ----------------------------------------------------------------------------------------


def test_real_legacy_bundle_verifies_with_the_set_checked(tmp_path: Path) -> None:
    r = _verify_legacy(tmp_path, LEGACY / "offline-rekor.txt.cosign.bundle")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert any(t["source"] == "tlog" for t in doc["verifiedTimes"]) or "tlog" in json.dumps(doc["steps"])
    assert doc["signer"]["subject"] == "william@yossarian.net"


def test_today_staging_root_refuses_it_for_the_ct_key_window(tmp_path: Path) -> None:
    r = run_assay(
        "verify-blob", str(LEGACY / "offline-rekor.txt"), "--bundle", str(LEGACY / "offline-rekor.txt.cosign.bundle"),
        "--trusted-root", str(STAGING_ROOT), *REAL_ID,
    )  # fmt: skip
    assert r.code == 1 and "error[sct-invalid]" in r.err


def _flip_set(doc: dict) -> None:
    raw = bytearray(base64.b64decode(doc["rekorBundle"]["SignedEntryTimestamp"]))
    raw[-3] ^= 1
    doc["rekorBundle"]["SignedEntryTimestamp"] = base64.b64encode(bytes(raw)).decode()


def _other_time(doc: dict) -> None:
    doc["rekorBundle"]["Payload"]["integratedTime"] += 1


def _other_digest(doc: dict) -> None:
    body = json.loads(base64.b64decode(doc["rekorBundle"]["Payload"]["body"]))
    body["spec"]["data"]["hash"]["value"] = "00" * 32
    doc["rekorBundle"]["Payload"]["body"] = base64.b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()


def _other_signature(doc: dict) -> None:
    raw = bytearray(base64.b64decode(doc["base64Signature"]))
    raw[-2] ^= 1
    doc["base64Signature"] = base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    ("mutate", "code", "reason"),
    [
        (_flip_set, 1, "inclusion-promise-invalid"),
        (_other_time, 1, "inclusion-promise-invalid"),
        (_other_digest, 1, "inclusion-promise-invalid"),  # the SET signs the body: a changed digest breaks it
        (_other_signature, 1, "tlog-body-mismatch"),
        (lambda d: d.pop("rekorBundle"), 1, "no-verified-time"),  # nothing says when the short-lived cert signed
        (lambda d: d.update(base64Signature="%%%"), 2, "signature-not-base64"),
        (lambda d: d.update(cert=base64.b64encode(b"not a pem").decode()), 2, "certificate-malformed"),
    ],
)
def test_tampered_legacy_bundles(tmp_path: Path, mutate, code: int, reason: str) -> None:
    r = _verify_legacy(tmp_path, _legacy(tmp_path, mutate))
    assert r.code == code, r.out + r.err
    assert reason in r.out + r.err


def test_legacy_bundle_for_another_artifact(tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_text("not the signed file\n")
    r = _verify_legacy(tmp_path, LEGACY / "offline-rekor.txt.cosign.bundle", other)
    assert r.code == 1, r.err
    assert "error[tlog-body-mismatch]" in r.err, r.err


def test_integrated_time_outside_the_certificate(dev: ServerProcess, tmp_path: Path) -> None:
    """A real log (the dev server's) logs the 2022 signature and certificate today: the SET is genuine, but the
    certificate had expired long before that integrated time."""
    pem = (LEGACY / "offline-rekor.txt.crt").read_bytes()
    sig = (LEGACY / "offline-rekor.txt.sig").read_text().strip()
    digest = "da940a80c1d7e568ab4096828ba458f062949e26e679ba9ae455b7deb7236aeb"
    proposal = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest}},
            "signature": {"content": sig, "publicKey": {"content": base64.b64encode(pem).decode()}},
        },
    }
    resp = httpx.post(dev.url + "/api/v1/log/entries", json=proposal, timeout=30)
    assert resp.status_code in (200, 201, 409), resp.text
    ((_, e),) = (
        resp.json() if resp.status_code != 409 else httpx.get(dev.url + resp.headers["Location"]).json()
    ).items()
    legacy = {
        "base64Signature": sig,
        "cert": base64.b64encode(pem).decode(),
        "rekorBundle": {
            "SignedEntryTimestamp": e["verification"]["signedEntryTimestamp"],
            "Payload": {
                "body": e["body"],
                "integratedTime": e["integratedTime"],
                "logIndex": e["logIndex"],
                "logID": e["logID"],
            },
        },
    }
    bundle = tmp_path / "late.json"
    bundle.write_text(json.dumps(legacy))
    root = json.loads(httpx.get(dev.url + "/api/v1/trustedRoot", timeout=10).text)
    staging = json.loads(_staging_2022_root(tmp_path).read_text())
    root["certificateAuthorities"] = staging["certificateAuthorities"]
    root["ctlogs"] = staging["ctlogs"]
    rpath = tmp_path / "mixed-root.json"
    rpath.write_text(json.dumps(root))
    r = run_assay(
        "verify-blob",
        str(LEGACY / "offline-rekor.txt"),
        "--bundle",
        str(bundle),
        "--trusted-root",
        str(rpath),
        *REAL_ID,
    )
    assert r.code == 1, r.err
    assert "error[certificate-expired-at-signing-time]" in r.err or "error[certificate-not-valid" in r.err, r.err


def test_assay_bundles_convert_to_legacy_and_back(dev: ServerProcess, tmp_path: Path) -> None:
    f = tmp_path / "release.tar"
    f.write_bytes(b"release bits\n" * 100)
    token = dev_token(dev)
    s = run_assay("sign-blob", str(f), "--server", dev.url, "--identity-token", token)
    assert s.code == 0, s.err
    legacy = tmp_path / "legacy.json"
    c = run_assay("bundle", "convert", str(f) + ".sigstore.json", "--to", "legacy", "--out", str(legacy))
    assert c.code == 0, c.err
    doc = json.loads(legacy.read_text())
    assert set(doc) == {"base64Signature", "cert", "rekorBundle"}
    root = tmp_path / "root.json"
    root.write_bytes(httpx.get(dev.url + "/api/v1/trustedRoot", timeout=10).content)
    v = run_assay("verify-blob", str(f), "--bundle", str(legacy), "--trusted-root", str(root), *_dev_id(dev))
    assert v.code == 0, v.err
    back = tmp_path / "v01.json"
    c2 = run_assay("bundle", "convert", str(legacy), "--to", "sigstore", "--out", str(back))
    assert c2.code == 0, c2.err
    assert json.loads(back.read_text())["mediaType"] == "application/vnd.dev.sigstore.bundle+json;version=0.1"
    v2 = run_assay("verify-blob", str(f), "--bundle", str(back), "--trusted-root", str(root), *_dev_id(dev))
    assert v2.code == 0, v2.err
    tampered = tmp_path / "tampered.tar"
    tampered.write_bytes(f.read_bytes() + b"x")
    bad = run_assay("verify-blob", str(tampered), "--bundle", str(legacy), "--trusted-root", str(root), *_dev_id(dev))
    assert bad.code == 1


def test_dsse_bundle_does_not_convert_to_legacy(dev: ServerProcess, tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("a\n")
    pred = tmp_path / "p.json"
    pred.write_text("{}")
    a = run_assay(
        "attest-blob", str(f), "--predicate", str(pred), "--type", "https://example.com/t",
        "--server", dev.url, "--identity-token", dev_token(dev), "--bundle", str(tmp_path / "att.json"),
    )  # fmt: skip
    assert a.code == 0, a.err
    c = run_assay("bundle", "convert", str(tmp_path / "att.json"), "--to", "legacy")
    assert c.code == 2 and "error[bundle-not-convertible]" in c.err


# ---- detached .sig / .pem ---------------------------------------------------------------------------------------


def test_keyless_detached_files_verify_by_log_search(dev: ServerProcess, tmp_path: Path) -> None:
    f = tmp_path / "checksums.txt"
    f.write_text("ab" * 32 + "  myapp\n")
    sig, pem = tmp_path / "checksums.txt.sig", tmp_path / "checksums.txt.pem"
    s = run_assay(
        "sign-blob", "--yes", str(f), "--server", dev.url, "--identity-token", dev_token(dev),
        "--output-signature", str(sig), "--output-certificate", str(pem),
    )  # fmt: skip
    assert s.code == 0, s.err
    assert not Path(str(f) + ".sigstore.json").exists()  # detached only, as cosign without --bundle
    base64.b64decode(sig.read_bytes(), validate=True)
    assert base64.b64decode(pem.read_bytes()).startswith(b"-----BEGIN CERTIFICATE-----")
    args = ("verify-blob", str(f), "--signature", str(sig), "--certificate", str(pem), *_dev_id(dev))
    ok = run_assay(*args, "--rekor-url", dev.url, "-o", "json")
    assert ok.code == 0, ok.err
    assert json.loads(ok.out)["tlog"][0]["inclusionProof"] is True
    # as cosign: with no --certificate, the certificate the log recorded with this signature is used
    nocert = run_assay("verify-blob", str(f), "--signature", str(sig), *_dev_id(dev), "--server", dev.url)
    assert nocert.code == 0, nocert.err
    # a plain PEM certificate file is read too
    plain = tmp_path / "plain.pem"
    plain.write_bytes(base64.b64decode(pem.read_bytes()))
    assert (
        run_assay(
            "verify-blob",
            str(f),
            "--signature",
            str(sig),
            "--certificate",
            str(plain),
            *_dev_id(dev),
            "--server",
            dev.url,
        ).code
        == 0
    )
    # the wrong identity, a changed file, a detached keyless check with no log
    wrong = run_assay("verify-blob", str(f), "--signature", str(sig), "--certificate", str(pem), "--server", dev.url,
                      "--certificate-identity", "mallory@example.com", "--certificate-oidc-issuer", dev.url + "/dev/oidc")  # fmt: skip
    assert wrong.code == 1 and "identity" in wrong.err
    f.write_text("cd" * 32 + "  myapp\n")
    changed = run_assay(*args, "--server", dev.url)
    assert changed.code == 1 and "error[tlog-entry-not-found]" in changed.err
    offline = run_assay(*args, "--insecure-ignore-tlog")
    assert offline.code == 2 and "error[tlog-required]" in offline.err


def test_key_detached_signature_offline_and_logged(dev: ServerProcess, tmp_path: Path) -> None:
    k = run_assay("keygen", "--output-prefix", str(tmp_path / "k"))
    assert k.code == 0, k.err
    key, pub = tmp_path / "k.key", tmp_path / "k.pub"
    f = tmp_path / "bin"
    f.write_bytes(b"\x7fELF" + bytes(1000))
    sig = tmp_path / "bin.sig"
    assert run_assay("sign-blob", str(f), "--key", str(key), "--output-signature", str(sig)).code == 0
    off = run_assay("verify-blob", str(f), "--signature", str(sig), "--key", str(pub), "--insecure-ignore-tlog")
    assert off.code == 0, off.err
    must_say = run_assay("verify-blob", str(f), "--signature", str(sig), "--key", str(pub))
    assert must_say.code == 2 and "error[tlog-source-required]" in must_say.err
    not_logged = run_assay("verify-blob", str(f), "--signature", str(sig), "--key", str(pub), "--server", dev.url)
    assert not_logged.code == 1 and "error[tlog-entry-not-found]" in not_logged.err
    sig2 = tmp_path / "bin.logged.sig"
    assert (
        run_assay("sign-blob", str(f), "--key", str(key), "--server", dev.url, "--output-signature", str(sig2)).code
        == 0
    )
    logged = run_assay("verify-blob", str(f), "--signature", str(sig2), "--key", str(pub), "--server", dev.url)
    assert logged.code == 0, logged.err


def test_bad_detached_input(dev: ServerProcess, tmp_path: Path) -> None:
    f = LEGACY / "offline-rekor.txt"
    notb64 = tmp_path / "x.sig"
    notb64.write_text("this is not base64!\n")
    r = run_assay(
        "verify-blob",
        str(f),
        "--signature",
        str(notb64),
        "--certificate",
        str(LEGACY / "offline-rekor.txt.crt"),
        *REAL_ID,
        "--server",
        dev.url,
    )
    assert r.code == 2 and "error[signature-not-base64]" in r.err
    two = tmp_path / "two.pem"
    two.write_bytes((LEGACY / "offline-rekor.txt.crt").read_bytes() * 2)
    r2 = run_assay(
        "verify-blob",
        str(f),
        "--signature",
        str(LEGACY / "offline-rekor.txt.sig"),
        "--certificate",
        str(two),
        *REAL_ID,
        "--server",
        dev.url,
    )
    assert r2.code == 2 and "error[certificate-count]" in r2.err
    r3 = run_assay(
        "verify-blob",
        str(f),
        "--signature",
        str(LEGACY / "offline-rekor.txt.sig"),
        "--bundle",
        str(LEGACY / "offline-rekor.txt.cosign.bundle"),
        *REAL_ID,
    )
    assert r3.code == 2 and "error[usage]" in r3.err
    chain = tmp_path / "chain.pem"
    chain.write_bytes((LEGACY / "offline-rekor.txt.crt").read_bytes())
    r4 = run_assay("verify-blob", str(f), "--signature", str(LEGACY / "offline-rekor.txt.sig"), "--certificate", str(LEGACY / "offline-rekor.txt.crt"),
                   "--certificate-chain", str(chain), *REAL_ID, "--server", dev.url)  # fmt: skip
    assert r4.code == 1 and "error[certificate-chain-untrusted]" in r4.err


def test_cosign_flag_spellings(dev: ServerProcess, tmp_path: Path) -> None:
    f = tmp_path / "checksums.txt"
    f.write_text("ef" * 32 + "  myapp\n")
    sig, pem = tmp_path / "c.sig", tmp_path / "c.pem"
    # cosign's --fulcio-url/--rekor-url (one assay server), --output (old name of --output-signature),
    # --new-bundle-format, --tlog-upload=true
    s = run_assay(
        "sign-blob", "--yes", str(f), "--fulcio-url", dev.url, "--rekor-url", dev.url + "/",
        "--identity-token", dev_token(dev), "--output", str(sig), "--output-certificate", str(pem),
        "--new-bundle-format", "--tlog-upload=true",
    )  # fmt: skip
    assert s.code == 0, s.err
    args = ("verify-blob", str(f), "--signature", str(sig), "--certificate", str(pem), *_dev_id(dev))
    assert run_assay(*args, "--rekor-url", dev.url, "--new-bundle-format").code == 0
    # two different servers, a keyless signature kept out of the log, a bad --tlog-upload value
    two = run_assay("sign-blob", str(f), "--fulcio-url", dev.url, "--rekor-url", "http://127.0.0.1:9",
                    "--identity-token", dev_token(dev))  # fmt: skip
    assert two.code == 2 and "error[usage]" in two.err and "different servers" in two.err
    nolog = run_assay(
        "sign-blob", str(f), "--server", dev.url, "--identity-token", dev_token(dev), "--tlog-upload=false"
    )
    assert nolog.code == 2 and "error[tlog-required]" in nolog.err
    bad = run_assay("sign-blob", str(f), "--key", "k.key", "--tlog-upload=maybe")
    assert bad.code == 2 and "error[usage]" in bad.err
    # key-based with --tlog-upload=false: no log entry even with a server named
    assert run_assay("keygen", "--output-prefix", str(tmp_path / "k")).code == 0
    b = tmp_path / "c.sigstore.json"
    k = run_assay("sign-blob", str(f), "--key", str(tmp_path / "k.key"), "--server", dev.url, "--tlog-upload=false",
                  "--bundle", str(b))  # fmt: skip
    assert k.code == 0, k.err
    assert json.loads(b.read_text())["verificationMaterial"].get("tlogEntries", []) == []
    # --offline: the bundle alone; contradictory with a server; a keyless detached signature needs the log
    off = run_assay("verify-blob", str(f), "--bundle", str(b), "--key", str(tmp_path / "k.pub"), "--offline")
    assert off.code == 0, off.err
    both = run_assay("verify-blob", str(f), "--bundle", str(b), "--key", str(tmp_path / "k.pub"), "--offline",
                     "--server", dev.url)  # fmt: skip
    assert both.code == 2 and "error[usage]" in both.err
    nolog = run_assay(*args, "--offline")
    assert nolog.code == 2 and "error[tlog-source-required]" in nolog.err
