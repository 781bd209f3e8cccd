"""Signing through a PKCS#11 HSM: Debian's SoftHSM2, keys made with PyKCS11."""

import os

from tests.conftest import run_assay


def test_sign_with_hsm_and_verify(hsm, tmp_path):
    (tmp_path / "a.bin").write_bytes(os.urandom(10000))
    uri = "hsm:2?label=assay-test"
    pub = run_assay("public-key", "--key", uri, "--out", "hsm.pub", cwd=tmp_path, env=hsm)
    assert pub.code == 0, pub.err
    assert (tmp_path / "hsm.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    signed = run_assay("sign-blob", "a.bin", "--key", uri, "--bundle", "a.json", cwd=tmp_path, env=hsm)
    assert signed.code == 0, signed.err
    assert run_assay("verify-blob", "a.bin", "--bundle", "a.json", "--key", "hsm.pub", cwd=tmp_path).code == 0
    (tmp_path / "pred.json").write_text("{}")
    att = run_assay(
        "attest-blob",
        "a.bin",
        "--predicate",
        "pred.json",
        "--type",
        "custom",
        "--key",
        uri,
        "--bundle",
        "att.json",
        cwd=tmp_path,
        env=hsm,
    )
    assert att.code == 0, att.err
    assert (
        run_assay("verify-blob-attestation", "a.bin", "--bundle", "att.json", "--key", "hsm.pub", cwd=tmp_path).code
        == 0
    )
    (tmp_path / "a.bin").write_bytes(b"tampered")
    assert run_assay("verify-blob", "a.bin", "--bundle", "a.json", "--key", "hsm.pub", cwd=tmp_path).code == 1


def test_wrong_pin_and_missing_key(hsm, tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x")
    wrong = run_assay(
        "sign-blob",
        "a.bin",
        "--key",
        "hsm:2?label=assay-test",
        "--bundle",
        "a.json",
        cwd=tmp_path,
        env={**hsm, "ASSAY_HSM_PIN": "0000"},
    )
    assert wrong.code == 3 and wrong.err.startswith("error[signer-failed]"), wrong.err
    missing = run_assay(
        "sign-blob", "a.bin", "--key", "hsm:9?label=assay-test", "--bundle", "a.json", cwd=tmp_path, env=hsm
    )
    assert missing.code == 3 and missing.err.startswith("error[signer-unavailable]"), missing.err
    assert not (tmp_path / "a.json").exists()


def test_log_key_from_hsm(hsm, tmp_path):
    """assay server --log-key hsm:...: checkpoints and SETs are signed inside the token."""
    import json

    import httpx

    from tests.integration.conftest import ServerProcess

    srv = ServerProcess(tmp_path / "data", None, extra=["--log-key", "hsm:2?label=assay-test"], env=hsm).start()
    try:
        pub = run_assay("public-key", "--key", "hsm:2?label=assay-test", env=hsm).out
        assert httpx.get(srv.url + "/api/v1/log/publicKey").text == pub
        (tmp_path / "a.txt").write_text("x")
        assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
        r = run_assay("sign-blob", "a.txt", "--key", "k.key", "--server", srv.url, cwd=tmp_path)
        assert r.code == 0, r.err
        ok = run_assay("verify-blob", "a.txt", "--key", "k.pub", "--server", srv.url, "-o", "json", cwd=tmp_path)
        assert ok.code == 0, ok.err
        assert json.loads(ok.out)["tlog"][0]["inclusionPromise"] is True
    finally:
        srv.stop()
