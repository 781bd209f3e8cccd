"""Real Sigstore clients take assay's trust only from its TUF repository (``/tuf/sigstore`` of a --dev server).

sigstore-python 4.x (``trust-instance`` with the bootstrap root, then ``sign``/``verify`` with ``--instance``),
``assay verify-blob --instance`` (python-tuf ngclient) and the npm ``@sigstore/cli`` (tuf-js, a second TUF
implementation) verify the same bundles; a tampered trust target on a mirror is refused.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests.conftest import require, run_assay
from tests.integration.accesskit import start
from tests.integration.conftest import ServerProcess, dev_token

SIGSTORE = Path(sys.executable).parent / "sigstore"
NODE_CLI = Path(__file__).parent / "node_modules" / "@sigstore" / "cli" / "bin" / "run"


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / "cache"), "XDG_DATA_HOME": str(home / "data")}


def _sigstore(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SIGSTORE), *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=_env(home))


def test_sigstore_python_signs_and_verifies_with_tuf_distributed_trust(dev_server, tmp_path: Path) -> None:
    srv = dev_server
    instance = f"{srv.url}/tuf/sigstore"
    issuer = srv.url + "/dev/oidc"
    root = srv.data_dir / "tuf" / "sigstore" / "root.json"
    home = tmp_path / "home"
    (tmp_path / "a.txt").write_text("signed through TUF trust")
    r = _sigstore("--instance", instance, "trust-instance", str(root), cwd=tmp_path, home=home)
    assert r.returncode == 0, r.stderr
    r = _sigstore("--instance", instance, "sign", "--identity-token", dev_token(srv, email="py@example.com"), "a.txt",
                  cwd=tmp_path, home=home)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = _sigstore("--instance", instance, "verify", "identity", "--cert-identity", "py@example.com",
                  "--cert-oidc-issuer", issuer, "a.txt", cwd=tmp_path, home=home)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = _sigstore("--instance", instance, "verify", "identity", "--cert-identity", "x@example.com",
                  "--cert-oidc-issuer", issuer, "a.txt", cwd=tmp_path, home=home)  # fmt: skip
    assert r.returncode != 0
    # assay takes the same trust through TUF (ngclient) and verifies sigstore-python's bundle
    adir = {"XDG_DATA_HOME": str(home / "assay-data")}
    ok = run_assay("verify-blob", "a.txt", "--certificate-identity", "py@example.com", "--certificate-oidc-issuer",
                   issuer, "--instance", instance, "--tuf-root", str(root), cwd=tmp_path, env=adir)  # fmt: skip
    assert ok.code == 0, ok.err
    no = run_assay(
        "verify-blob",
        "a.txt",
        "--certificate-identity",
        "x@example.com",
        "--certificate-oidc-issuer",
        issuer,
        "--instance",
        instance,
        cwd=tmp_path,
        env=adir,
    )  # fmt: skip (the root is kept from the first)
    assert no.code == 1 and "error[identity-mismatch]" in no.err, no.err
    # assay signs through the same instance (services from the TUF-distributed signing config); sigstore verifies
    r2 = run_assay("sign-blob", "a.txt", "--identity-token", dev_token(srv, email="as@example.com"), "--instance",
                   instance, "--bundle", "a.assay.json", cwd=tmp_path, env=adir)  # fmt: skip
    assert r2.code == 0, r2.err
    r = _sigstore("--instance", instance, "verify", "identity", "--bundle", "a.assay.json", "--cert-identity",
                  "as@example.com", "--cert-oidc-issuer", issuer, "a.txt", cwd=tmp_path, home=home)  # fmt: skip
    assert r.returncode == 0, r.stderr
    # with no bootstrap root there is no trust at all (no trust on first use)
    fresh = run_assay("verify-blob", "a.txt", "--certificate-identity", "py@example.com", "--certificate-oidc-issuer",
                      issuer, "--instance", instance, cwd=tmp_path, env={"XDG_DATA_HOME": str(tmp_path / "none")})  # fmt: skip
    assert fresh.code == 2 and "error[tuf-client-uninitialised]" in fresh.err, fresh.err


def _node_cli() -> list[str]:
    require(NODE_CLI.exists() and shutil.which("node") is not None, "@sigstore/cli (make interop-deps, with npm)")
    return ["node", str(NODE_CLI)]


@pytest.fixture
def named_dev_server(tmp_path: Path, database: str | None) -> Iterator[ServerProcess]:
    """A --dev server whose log is named after its host: sigstore-js matches a checkpoint's signer name against
    the tlog's baseUrl (as Rekor's "rekor.sigstore.dev" is in its URL)."""
    srv = start(tmp_path, database, "--log-name", "127.0.0.1")
    yield srv
    srv.stop()


def test_sigstore_js_verifies_an_assay_bundle_through_tuf(named_dev_server: ServerProcess, tmp_path: Path) -> None:
    srv = named_dev_server
    node = _node_cli()
    instance = f"{srv.url}/tuf/sigstore"
    issuer = srv.url + "/dev/oidc"
    root = srv.data_dir / "tuf" / "sigstore" / "root.json"
    (tmp_path / "b.txt").write_text("assay-signed, tuf-js-verified")
    r = run_assay("sign-blob", "b.txt", "--identity-token", dev_token(srv, email="js@example.com"), "--server", srv.url,
                  "--bundle", "b.sigstore.json", cwd=tmp_path)  # fmt: skip
    assert r.code == 0, r.err

    def verify(email: str, cache: str, blob: str = "b.txt") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*node, "verify", "b.sigstore.json", "--blob-file", blob, "--certificate-identity-email", email,
             "--certificate-issuer", issuer, "--tuf-mirror-url", instance, "--tuf-root-path", str(root),
             "--tuf-cache-path", str(tmp_path / cache)],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, env=_env(tmp_path / "home"),
        )  # fmt: skip

    ok = verify("js@example.com", "c1")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (tmp_path / "c1").is_dir() and any((tmp_path / "c1").rglob("timestamp.json"))  # trust came over TUF
    assert verify("other@example.com", "c2").returncode != 0
    (tmp_path / "evil.txt").write_text("something else")
    assert verify("js@example.com", "c3", blob="evil.txt").returncode != 0


def test_tampered_trust_target_is_refused_by_both_python_clients(dev_server, tmp_path: Path) -> None:
    """A mirror serving its own trusted_root.json under the real name: sigstore-python and assay refuse it."""
    import hashlib

    import httpx

    from tests.integration.tufmirror import Mirror

    srv = dev_server
    root = srv.data_dir / "tuf" / "sigstore" / "root.json"
    mirror = Mirror(srv.url)
    try:
        base = f"{srv.url}/tuf/sigstore"
        # find the served trusted_root.json's hashed name through the delegated role and replace its bytes
        from tuf.ngclient import Updater

        (tmp_path / "m").mkdir()
        up = Updater(str(tmp_path / "m"), base + "/", str(tmp_path), base + "/targets/", bootstrap=root.read_bytes())
        info = up.get_targetinfo("trusted_root.json")
        assert info is not None
        digest = info.hashes["sha256"]
        evil = bytearray(httpx.get(f"{base}/targets/{digest}.trusted_root.json", timeout=10).content)
        evil[-3] ^= 1
        assert hashlib.sha256(evil).hexdigest() != digest
        mirror.overrides[f"/tuf/sigstore/targets/{digest}.trusted_root.json"] = bytes(evil)
        instance = f"{mirror.url}/tuf/sigstore"
        home = tmp_path / "home"
        r = _sigstore("--instance", instance, "trust-instance", str(root), cwd=tmp_path, home=home)
        assert r.returncode != 0
        (tmp_path / "a.txt").write_text("x")
        a = run_assay("verify-blob", "a.txt", "--certificate-identity", "x@example.com", "--certificate-oidc-issuer",
                      "https://x", "--instance", instance, "--tuf-root", str(root), cwd=tmp_path,
                      env={"XDG_DATA_HOME": str(home / "assay")})  # fmt: skip
        assert a.code == 1 and "error[tuf-target-mismatch]" in a.err, a.err
    finally:
        mirror.close()


def test_rotation_reaches_clients_without_reconfiguration(tmp_path: Path, database: str | None) -> None:
    """rotate-key log, ca, tsa and ctlog on a stopped server: after the restart sigstore-python signs with the new
    keys through the same ``--instance`` (trust refreshed over TUF), and bundles from before still verify."""
    srv = start(tmp_path, database, "--log-name", "127.0.0.1")
    try:
        instance, issuer = f"{srv.url}/tuf/sigstore", srv.url + "/dev/oidc"
        root = srv.data_dir / "tuf" / "sigstore" / "root.json"
        home = tmp_path / "home"
        for name in ("old.txt", "new.txt"):
            (tmp_path / name).write_text(f"{name} contents")
        assert _sigstore("--instance", instance, "trust-instance", str(root), cwd=tmp_path, home=home).returncode == 0

        def sign(name: str) -> None:
            r = _sigstore("--instance", instance, "sign", "--identity-token", dev_token(srv, email="rot@example.com"),
                          name, cwd=tmp_path, home=home)  # fmt: skip
            assert r.returncode == 0, r.stderr

        def verify(name: str) -> None:
            r = _sigstore("--instance", instance, "verify", "identity", "--cert-identity", "rot@example.com",
                          "--cert-oidc-issuer", issuer, name, cwd=tmp_path, home=home)  # fmt: skip
            assert r.returncode == 0, (name, r.stderr)
            a = run_assay("verify-blob", name, "--certificate-identity", "rot@example.com", "--certificate-oidc-issuer",
                          issuer, "--instance", instance, "--tuf-root", str(root), cwd=tmp_path,
                          env={"XDG_DATA_HOME": str(home / "assay")})  # fmt: skip
            assert a.code == 0, (name, a.err)

        sign("old.txt")
        verify("old.txt")
        before = _trusted_root(instance, root, tmp_path / "t1")
        srv.stop()
        for kind in ("log", "ca", "tsa", "ctlog"):
            r = run_assay("server", "rotate-key", kind, "--data-dir", str(srv.data_dir))
            assert r.code == 0, r.err
        srv.start()
        after = _trusted_root(instance, root, tmp_path / "t2")
        for field in ("tlogs", "certificateAuthorities", "timestampAuthorities", "ctlogs"):
            assert len(after[field]) == 2, field
            old = after[field][1]
            assert (old.get("publicKey") or old)["validFor"]["end"]  # the retired window is closed
        assert after["certificateAuthorities"][1]["certChain"] == before["certificateAuthorities"][0]["certChain"]
        assert after["tlogs"][0]["logId"] != before["tlogs"][0]["logId"]
        sign("new.txt")
        new_bundle = json.loads((tmp_path / "new.txt.sigstore.json").read_text())
        assert (
            new_bundle["verificationMaterial"]["tlogEntries"][0]["logId"]["keyId"]
            == after["tlogs"][0]["logId"]["keyId"]
        )
        leaf = x509.load_der_x509_certificate(
            base64.b64decode(new_bundle["verificationMaterial"]["certificate"]["rawBytes"])
        )
        issuing = after["certificateAuthorities"][0]["certChain"]["certificates"][0]["rawBytes"]
        leaf.verify_directly_issued_by(x509.load_der_x509_certificate(base64.b64decode(issuing)))  # the new CA
        verify("new.txt")
        verify("old.txt")
        if NODE_CLI.exists() and shutil.which("node"):  # tuf-js follows the rotation too
            for name in ("old.txt", "new.txt"):
                r = subprocess.run(
                    ["node", str(NODE_CLI), "verify", f"{name}.sigstore.json", "--blob-file", name,
                     "--certificate-identity-email", "rot@example.com", "--certificate-issuer", issuer,
                     "--tuf-mirror-url", instance, "--tuf-root-path", str(root), "--tuf-cache-path", str(tmp_path / "js")],
                    cwd=tmp_path, capture_output=True, text=True, timeout=120, env=_env(home),
                )  # fmt: skip
                assert r.returncode == 0, (name, r.stdout + r.stderr)
        bad = run_assay("server", "rotate-key", "hsm", "--data-dir", str(srv.data_dir))
        assert bad.code == 2 and "error[rotate-kind-unknown]" in bad.err
    finally:
        srv.stop()


def _trusted_root(instance: str, root: Path, where: Path) -> dict:  # type: ignore[type-arg]
    from assay.tuf import client

    dirs = client.ClientDirs(where / "metadata", instance + "/", instance + "/targets/")
    client.init(root.read_bytes(), dirs)
    (path,) = [f.path for f in client.download(dirs, ["trusted_root.json"])]
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def test_sigstore_python_refuses_rollback_and_freeze_from_a_mirror(dev_server, tmp_path: Path) -> None:
    """sigstore-python (its own python-tuf updater) behind a malicious mirror of /tuf/sigstore."""
    from datetime import UTC, datetime, timedelta

    from tests.integration.tufmirror import Forger, Mirror

    srv = dev_server
    root = srv.data_dir / "tuf" / "sigstore" / "root.json"
    issuer = srv.url + "/dev/oidc"
    mirror = Mirror(srv.url)
    forger = Forger(srv, "sigstore")
    instance = f"{mirror.url}/tuf/sigstore"
    home = tmp_path / "home"
    (tmp_path / "a.txt").write_text("a")
    try:
        assert _sigstore("--instance", instance, "trust-instance", str(root), cwd=tmp_path, home=home).returncode == 0
        r = _sigstore("--instance", instance, "sign", "--identity-token", dev_token(srv, email="m@example.com"), "a.txt",
                      cwd=tmp_path, home=home)  # fmt: skip
        assert r.returncode == 0, r.stderr

        def verify() -> subprocess.CompletedProcess[str]:
            return _sigstore("--instance", instance, "verify", "identity", "--verbose", "--cert-identity", "m@example.com",
                             "--cert-oidc-issuer", issuer, "a.txt", cwd=tmp_path, home=home)  # fmt: skip

        assert verify().returncode == 0
        honest = forger.sign(forger.current("timestamp"))
        forger.publish(mirror, {})  # a newer (forged) timestamp and snapshot: the client moves on to them
        assert verify().returncode == 0
        mirror.overrides = {f"{forger.path}/timestamp.json": honest}  # replay the older timestamp: rollback
        r = verify()
        assert r.returncode != 0 and "BadVersionNumberError" in r.stderr + r.stdout, r.stderr
        mirror.overrides = {}
        forger.publish(mirror, {}, expires=datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5))
        r = verify()  # freeze: a timestamp already expired
        assert r.returncode != 0 and "ExpiredMetadataError" in r.stderr + r.stdout, r.stderr
    finally:
        mirror.close()
