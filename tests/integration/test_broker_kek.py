"""Broker KEKs held in a PKCS#11 token (SoftHSM2, for real) and the AWS KMS backend's refusals (moto's server).

End to end on the real server: a P-256 key generated on the token (sensitive, non-extractable, derive-only),
a blob encrypted to it (a ``piv-p256`` stanza), decrypted through the broker under a policy, a refused unwrap
still refused, and a file-key version re-wrapped to the HSM-held version. moto (5.x) implements neither
``DeriveSharedSecret`` nor ``KeySpec`` in ``GetPublicKey``; ``kms_ecdh_server.py`` adds the first to moto's server
(ECDH on the key material moto keeps), so the KMS path runs end to end too: boto3 against a loopback KMS.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require, run_assay
from tests.integration.accesskit import admin_api, new_project, start
from tests.integration.conftest import MODULE, ServerProcess, free_port
from tests.integration.test_broker import SECRET, Env, rule, workload

PIN = "1234"


def _env(srv: ServerProcess, tmp_path: Path) -> Env:
    """A project on ``srv`` trusting policies signed by ``writer.key``, and a publisher token for the platform."""
    admin = admin_api(srv)
    project = new_project(admin)
    w = tmp_path / "work"
    w.mkdir()
    assert run_assay("keygen", "--output-prefix", "writer", cwd=w).code == 0
    admin.ok("PUT", f"/api/v1/projects/{project}/trust", {"keys": [(w / "writer.pub").read_text()]})
    platform = admin.ok("POST", f"/api/v1/projects/{project}/tokens", {"role": "publisher", "name": "n"})["token"]
    return Env(srv, project, admin, platform, w)


@pytest.fixture
def kenv(hsm: dict[str, str], tmp_path: Path) -> Iterator[Env]:
    """A --dev server (SQLite) configured with the SoftHSM token 'assay-test' as its PKCS#11 module."""
    srv = start(tmp_path, None, env={**hsm, "ASSAY_PKCS11_MODULE": MODULE})
    try:
        yield _env(srv, tmp_path)
    finally:
        srv.stop()


def _create(env: Env, name: str, *kek: str) -> Any:
    return env.cli("broker", "key", "create", "--server", env.srv.url, "--project", env.project, "--name", name,
                   "--json", *kek)  # fmt: skip


ATTRS = """
import sys, PyKCS11 as P
lib = P.PyKCS11Lib(); lib.load(sys.argv[1])
slot = next(s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == "assay-test")
s = lib.openSession(slot); s.login(sys.argv[2])
(k,) = s.findObjects([(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_LABEL, sys.argv[3])])
names = [P.CKA_SENSITIVE, P.CKA_EXTRACTABLE, P.CKA_DERIVE, P.CKA_SIGN, P.CKA_DECRYPT, P.CKA_TOKEN]
print([bool(v) for v in s.getAttributeValue(k, names)])
try:
    (v,) = s.getAttributeValue(k, [P.CKA_VALUE])  # PyKCS11 gives None for a sensitive attribute
    print("value-readable" if v else "value-refused")
except P.PyKCS11Error as exc:
    print("value-refused", exc)
"""


def _token_attrs(hsm: dict[str, str], label: str) -> str:
    r = subprocess.run([sys.executable, "-c", ATTRS, MODULE, PIN, label], env={**os.environ, **hsm},
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_hsm_kek_end_to_end(kenv: Env, hsm: dict[str, str]) -> None:
    env, name = kenv, "release"
    r = _create(env, name)  # v1: a file-held X25519 key
    assert r.code == 0 and json.loads(r.out)["algorithm"] == "X25519", r.err
    assert env.policy(name, [rule(env.srv)]).code == 0
    old = env.encrypt(name)
    (env.w / "old.age").write_bytes(old.read_bytes())

    r = _create(env, name, "--kek", "pkcs11:token=assay-test;object=kek-release")  # v2: on the token
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["version"] == 2 and doc["algorithm"] == "piv-p256"
    assert doc["recipient"].startswith("age1yubikey1")
    flags, value = _token_attrs(hsm, "kek-release").splitlines()
    assert flags == str([True, False, True, False, False, True])  # sensitive, not extractable, derive only, token
    assert value.startswith("value-refused")

    enc = env.encrypt(name)
    assert enc.read_bytes().startswith(b"age-encryption.org/v1\n-> piv-p256 ")
    r = env.decrypt(name, enc, workload(env.srv))
    assert r.code == 0, r.err
    assert (env.w / "plain.txt").read_bytes() == SECRET

    r = env.decrypt(name, enc, workload(env.srv, claims={"namespace": "dev"}))  # the policy still refuses
    assert r.code == 1 and "error[policy-claim]" in r.err, r.err
    env.no_plaintext()

    out = env.w / "rewrapped.age"
    r = env.cli("broker", "rewrap", "--server", env.srv.url, "--project", env.project, "--name", name,
                str(env.w / "old.age"), "--out", str(out))  # fmt: skip
    assert r.code == 0 and "v1 -> v2" in r.out, r.err
    assert out.read_bytes().startswith(b"age-encryption.org/v1\n-> piv-p256 ")
    r = env.decrypt(name, out, workload(env.srv))
    assert r.code == 0, r.err
    assert (env.w / "plain.txt").read_bytes() == SECRET
    releases = env.admin.ok("GET", f"/api/v1/projects/{env.project}/keys/{name}/releases")
    rows = releases["releases"] if isinstance(releases, dict) else releases
    assert [(x["decision"], x["statement"]["keyVersion"]) for x in rows] == [
        ("granted", 2), ("refused", 2), ("granted", 2)
    ]  # fmt: skip

    r = _create(env, name, "--kek", "pkcs11:token=assay-test;object=kek-release")  # v3: the existing token key
    assert r.code == 0 and json.loads(r.out)["recipient"] == doc["recipient"], r.err


def test_generated_label_and_server_restart_keeps_working(kenv: Env) -> None:
    """No object named: the key gets a per-version label; a restarted server opens a new session to it."""
    env, name = kenv, "k2"
    r = _create(env, name, "--kek", "pkcs11:token=assay-test")
    assert r.code == 0, r.err
    assert env.policy(name, [rule(env.srv)]).code == 0
    enc = env.encrypt(name)
    env.srv.stop()
    env.srv.start()
    r = env.decrypt(name, enc, workload(env.srv))
    assert r.code == 0, r.err
    assert (env.w / "plain.txt").read_bytes() == SECRET


@pytest.mark.parametrize(
    "kek,reason",
    [
        ("pkcs11:token=assay-test;object=release", "kek-key-unsuitable"),  # the fixture's sign-only ECDSA key
        ("pkcs11:token=no-such-token", "kek-token-not-found"),
        ("pkcs11:token=assay-test?module-path=/tmp/evil.so", "pkcs11-module-not-allowed"),
        ("pkcs11:object=x", "bad-kek"),
        ("pkcs11:token=assay-test;colour=red", "bad-kek"),
        ("pkcs11:token=assay-test;type=public", "bad-kek"),
        ("vault:x", "bad-kek"),
    ],
)
def test_bad_kek_specs_are_refused(kenv: Env, kek: str, reason: str) -> None:
    r = _create(kenv, "bad", "--kek", kek)
    assert r.code == 2 and f"error[{reason}]" in r.err, (r.out, r.err)
    r = kenv.admin("GET", f"/api/v1/projects/{kenv.project}/keys/bad")
    assert r.status_code == 404  # nothing was stored


def test_wrong_pin_is_refused(hsm: dict[str, str], tmp_path: Path) -> None:
    env = {**hsm, "ASSAY_PKCS11_MODULE": MODULE, "ASSAY_HSM_PIN": "0000"}
    srv = start(tmp_path, None, env=env)
    try:
        admin = admin_api(srv)
        project = new_project(admin)
        r = admin("POST", f"/api/v1/projects/{project}/keys/k", {"kek": "pkcs11:token=assay-test"})
        assert r.status_code == 400 and r.json()["reason"] == "kek-pin-incorrect", r.text
        r = admin("POST", f"/api/v1/projects/{project}/keys/k", {"kek": 5})
        assert r.status_code == 400 and r.json()["reason"] == "bad-kek", r.text
        r = admin("POST", f"/api/v1/projects/{project}/keys/k", {"kek": "file", "extra": 1})
        assert r.status_code == 400 and r.json()["reason"] == "bad-kek", r.text
    finally:
        srv.stop()


# --- AWS KMS: moto's server with DeriveSharedSecret added (kms_ecdh_server.py) ------------------------------


@pytest.fixture
def moto_kms(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    boto3 = pytest.importorskip("boto3")
    require(importlib.util.find_spec("moto.server") is not None, "moto[server]")
    port = free_port()
    log = (tmp_path / "moto.log").open("wb")
    emulator = Path(__file__).with_name("kms_ecdh_server.py")  # moto's server plus DeriveSharedSecret
    proc = subprocess.Popen([sys.executable, str(emulator), str(port)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.2)
        for k, v in {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                     "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}.items():  # fmt: skip
            monkeypatch.setenv(k, v)
        yield boto3.client("kms", region_name="us-east-1", endpoint_url=url)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_kms_key_for_signing_is_not_a_kek(moto_kms: Any, tmp_path: Path) -> None:
    from assay.broker import kek
    from assay.errors import AssayError

    arn = moto_kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    with pytest.raises(AssayError) as exc:
        kek.create(f"awskms:{arn}", tmp_path, "p", "k", 1)
    assert exc.value.reason == "kek-key-unsuitable" and "SIGN_VERIFY" in exc.value.message


def test_kms_unknown_key_is_refused(moto_kms: Any, tmp_path: Path) -> None:
    from assay.broker import kek
    from assay.errors import AssayError

    with pytest.raises(AssayError) as exc:
        kek.create("awskms:arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000", tmp_path,
                   "p", "k", 1)  # fmt: skip
    assert exc.value.reason == "kek-key-not-found"


def test_kms_without_boto3_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from assay.broker import kek
    from assay.errors import AssayError

    monkeypatch.setitem(sys.modules, "boto3", None)  # as when the kms extra is not installed
    with pytest.raises(AssayError) as exc:
        kek.create("awskms:", tmp_path, "p", "k", 1)
    assert exc.value.reason == "kms-unavailable" and "assay[kms]" in (exc.value.hint or "")


def test_kms_kek_end_to_end(moto_kms: Any, tmp_path: Path) -> None:
    """A KEY_AGREEMENT key created in KMS through the server; a blob wrapped to it decrypts through the broker
    (DeriveSharedSecret); a refused unwrap stays refused; once the KMS key is disabled, unwraps fail (503)."""
    aws = {k: os.environ[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                      "AWS_DEFAULT_REGION", "AWS_MAX_ATTEMPTS")}  # fmt: skip
    srv = start(tmp_path, None, env=aws)
    try:
        env = _env(srv, tmp_path)
        w = env.w
        r = _create(env, "kms", "--kek", "awskms:")
        assert r.code == 0, r.err
        doc = json.loads(r.out)
        assert doc["algorithm"] == "piv-p256" and doc["recipient"].startswith("age1yubikey1")
        (made,) = moto_kms.list_keys()["Keys"]  # a fresh KMS: the one key the server created
        arn = made["KeyArn"]
        meta = moto_kms.describe_key(KeyId=arn)["KeyMetadata"]
        assert (meta["KeyUsage"], meta["KeySpec"]) == ("KEY_AGREEMENT", "ECC_NIST_P256")
        assert env.policy("kms", [rule(srv)]).code == 0
        enc = env.encrypt("kms")
        assert enc.read_bytes().startswith(b"age-encryption.org/v1\n-> piv-p256 ")
        r = env.decrypt("kms", enc, workload(srv))
        assert r.code == 0, r.err
        assert (w / "plain.txt").read_bytes() == SECRET
        r = env.decrypt("kms", enc, workload(srv, claims={"namespace": "dev"}))
        assert r.code == 1 and "error[policy-claim]" in r.err, r.err
        env.no_plaintext()
        moto_kms.disable_key(KeyId=made["KeyId"])  # the KEK revoked at the KMS: nothing unwraps any more
        r = env.decrypt("kms", enc, workload(srv))
        assert r.code == 3 and "error[kek-unavailable]" in r.err, r.err
        env.no_plaintext()
    finally:
        srv.stop()


def test_one_token_key_serves_one_broker_key(kenv: Env) -> None:
    """A project admin naming another key's token object (or the same one under a second name) is refused: that
    key's policy would otherwise not be the only one able to release its files."""
    env = kenv
    uri = "pkcs11:token=assay-test;object=kek-owned"
    r = _create(env, "owned", "--kek", uri)
    assert r.code == 0, r.err
    other = new_project(env.admin)
    r = env.cli("broker", "key", "create", "--server", env.srv.url, "--project", other, "--name", "thief",
                "--kek", uri)  # fmt: skip
    assert r.code == 2 and "error[kek-in-use]" in r.err and f"{env.project}/owned" in r.err, r.err
    r = _create(env, "second-name", "--kek", uri)
    assert r.code == 2 and "error[kek-in-use]" in r.err, r.err
    r = _create(env, "owned", "--kek", uri)  # the key's own next version may keep the token key
    assert r.code == 0 and json.loads(r.out)["version"] == 2, r.err
    listed = env.admin.ok("GET", f"/api/v1/projects/{other}/keys")
    assert not (listed["keys"] if isinstance(listed, dict) else listed)  # nothing stored for the refused one
