"""Signing through a PKCS#11 HSM: Debian's SoftHSM2, keys made with PyKCS11."""

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require, require_tool, run_assay

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
P256_OID_DER = bytes.fromhex("06082a8648ce3d030107")


@pytest.fixture
def hsm(tmp_path: Path) -> dict[str, str]:
    util = require_tool("softhsm2-util")
    require(Path(MODULE).exists(), "softhsm2 PKCS#11 module")
    PyKCS11 = pytest.importorskip("PyKCS11")
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf), "PYKCS11LIB": MODULE, "ASSAY_HSM_PIN": "1234"}
    subprocess.run(
        [util, "--init-token", "--free", "--label", "assay-test", "--pin", "1234", "--so-pin", "5678"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        lib = PyKCS11.PyKCS11Lib()
        lib.load(MODULE)
        slot = next(s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == "assay-test")
        session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
        session.login("1234")
        common = [(PyKCS11.CKA_TOKEN, PyKCS11.CK_TRUE), (PyKCS11.CKA_LABEL, "release"), (PyKCS11.CKA_ID, (0x02,))]
        pub = [
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY),
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_ECDSA),
            (PyKCS11.CKA_VERIFY, PyKCS11.CK_TRUE),
            (PyKCS11.CKA_PRIVATE, PyKCS11.CK_FALSE),
            (PyKCS11.CKA_EC_PARAMS, P256_OID_DER),
            *common,
        ]
        priv = [
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_ECDSA),
            (PyKCS11.CKA_SIGN, PyKCS11.CK_TRUE),
            (PyKCS11.CKA_SENSITIVE, PyKCS11.CK_TRUE),
            (PyKCS11.CKA_PRIVATE, PyKCS11.CK_TRUE),
            *common,
        ]
        session.generateKeyPair(pub, priv, mecha=PyKCS11.MechanismECGENERATEKEYPAIR)
        session.logout()
        session.closeSession()
    finally:
        if old is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = old
    return env


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
