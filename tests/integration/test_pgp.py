"""OpenPGP detached signatures made by the real gpg, verified by assay."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool, run_assay


def _gpg(home: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    gpg = require_tool("gpg")
    return subprocess.run(
        [gpg, "--homedir", str(home), "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", *args],
        input=stdin,
        capture_output=True,
        check=True,
    )


def _keypair(base: Path, name: str) -> tuple[Path, str]:
    home = base / f"gnupg-{name}"
    home.mkdir(mode=0o700)
    _gpg(home, "--quick-gen-key", f"{name} <{name}@example.com>", "ed25519", "sign", "never")
    listing = _gpg(home, "--with-colons", "--list-keys").stdout.decode()
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    return home, fpr


@pytest.fixture(scope="module")
def pgp(tmp_path_factory):
    base = tmp_path_factory.mktemp("pgp")
    alice, alice_fpr = _keypair(base, "alice")
    mallory, _ = _keypair(base, "mallory")
    (base / "file.tar").write_bytes(os.urandom(4096))
    for who, home in (("alice", alice), ("mallory", mallory)):
        _gpg(home, "--armor", "--detach-sign", "--output", str(base / f"file.tar.{who}.asc"), str(base / "file.tar"))
        (base / f"{who}.asc").write_bytes(_gpg(home, "--armor", "--export").stdout)
    (base / "alice.secret.asc").write_bytes(_gpg(alice, "--armor", "--export-secret-keys").stdout)
    return base, alice_fpr


def _verify(base, *extra):
    return run_assay("pgp", "verify", "file.tar", *extra, cwd=base)


def test_valid_signature_with_pinned_fingerprint(pgp):
    base, fpr = pgp
    r = _verify(base, "--signature", "file.tar.alice.asc", "--key", "alice.asc", "--fingerprint", fpr, "-o", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["verified"] and doc["primary_fingerprint"] == fpr


def test_spaced_lowercase_fingerprint_accepted(pgp):
    base, fpr = pgp
    spaced = " ".join(fpr[i : i + 4] for i in range(0, len(fpr), 4)).lower()
    assert _verify(base, "--signature", "file.tar.alice.asc", "--key", "alice.asc", "--fingerprint", spaced).code == 0


def test_tampered_file(pgp, tmp_path):
    base, _ = pgp
    data = bytearray((base / "file.tar").read_bytes())
    data[100] ^= 1
    (tmp_path / "file.tar").write_bytes(bytes(data))
    for f in ("file.tar.alice.asc", "alice.asc"):
        (tmp_path / f).write_bytes((base / f).read_bytes())
    r = run_assay("pgp", "verify", "file.tar", "--signature", "file.tar.alice.asc", "--key", "alice.asc", cwd=tmp_path)
    assert r.code == 1 and r.err.startswith("error[pgp-signature-mismatch]"), r.err


def test_signature_by_unknown_key(pgp):
    base, _ = pgp
    r = _verify(base, "--signature", "file.tar.mallory.asc", "--key", "alice.asc")
    assert r.code == 1 and r.err.startswith("error[pgp-unknown-key]"), r.err


def test_fingerprint_not_in_key_file(pgp):
    base, fpr = pgp
    r = _verify(base, "--signature", "file.tar.mallory.asc", "--key", "mallory.asc", "--fingerprint", fpr)
    assert r.code == 1 and r.err.startswith("error[pgp-fingerprint-mismatch]"), r.err


def test_bad_inputs(pgp):
    base, _ = pgp
    (base / "junk.asc").write_text("not a key")
    r = _verify(base, "--signature", "file.tar.alice.asc", "--key", "junk.asc")
    assert r.code == 2 and r.err.startswith("error[pgp-malformed-key]"), r.err
    r = _verify(base, "--signature", "file.tar.alice.asc", "--key", "alice.asc", "--fingerprint", "1234")
    assert r.code == 2 and r.err.startswith("error[pgp-bad-fingerprint]"), r.err
    r = _verify(base, "--signature", "junk.asc", "--key", "alice.asc")
    assert r.code == 2 and r.err.startswith("error[pgp-malformed-signature]"), r.err
    r = _verify(base, "--signature", "file.tar.alice.asc", "--key", "alice.secret.asc")
    assert r.code == 2 and r.err.startswith("error[private-key-given]"), r.err
