"""in-toto fidelity on material made by the reference implementation (issue 23.5).

Everything here is regenerated per run with the in-toto 3.x CLIs (``in-toto-run``, ``in-toto-sign``) and the
in-toto / securesystemslib libraries, following the in-toto demo's supply chain (a functionary records a step,
the owner signs the layout); nothing is copied from their repositories.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from assay.crypto import keys
from tests.conftest import require_tool, run_assay

pytestmark = pytest.mark.slow


def _ok(r):
    assert r.code == 0, r.err
    return r


def _in_toto_run(work: Path, step: str, *args: str, cmd: tuple[str, ...] = ("true",)) -> None:
    r = subprocess.run(
        [require_tool("in-toto-run"), "-n", step, *args, "--", *cmd], cwd=work, capture_output=True, timeout=120
    )
    assert r.returncode == 0, r.stderr


def _old_format_key(public_pem_path: Path):
    """The securesystemslib key of a PEM public key under the older key id format (keyid_hash_algorithms)."""
    from securesystemslib.formats import encode_canonical
    from securesystemslib.signer import SSlibKey

    d = SSlibKey.from_crypto(keys.load_public(public_pem_path)).to_dict()
    d["keyid_hash_algorithms"] = ["sha256", "sha512"]
    keyid = hashlib.sha256(encode_canonical(d).encode()).hexdigest()
    return SSlibKey.from_dict(keyid, dict(d))


def _reference_layout(steps, keys_: dict, signer, path: Path, *, days: int = 30, extra: dict | None = None) -> Path:
    """A layout built and signed with the in-toto library (Metablock), as the demo's owner does."""
    from in_toto.models.layout import Layout
    from in_toto.models.metadata import Metablock

    layout = Layout()
    layout.set_relative_expiration(days=days)
    layout.keys = keys_
    layout.steps = steps
    mb = Metablock(signed=layout)
    mb.create_signature(signer)
    mb.dump(str(path))
    if extra:
        doc = json.loads(path.read_text())
        doc["signed"].update(extra)
        path.write_text(json.dumps(doc))
    return path


def _step(name: str, pubkeys: list[str], threshold: int = 1):
    from in_toto.models.layout import Step

    s = Step(name=name)
    s.pubkeys = pubkeys
    s.threshold = threshold
    s.expected_products = [["ALLOW", "*"]]
    return s


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    for name in ("owner", "alice", "mallory"):
        _ok(run_assay("keygen", "--output-prefix", name, cwd=tmp_path))
    (tmp_path / "links").mkdir()
    (tmp_path / "foo.py").write_text("print('demo')\n")
    return tmp_path


def _verify(d: Path, layout: str = "root.layout", key: str = "owner.pub"):
    return run_assay("verify-layout", "--layout", layout, "--layout-key", key, "--links", "links", cwd=d)


def test_old_format_key_ids_are_matched_by_key_content(demo: Path):
    from securesystemslib.signer import CryptoSigner

    owner_old = _old_format_key(demo / "owner.pub")
    alice_old = _old_format_key(demo / "alice.pub")
    owner_signer = CryptoSigner(keys.load_private(demo / "owner.key", None), public_key=owner_old)
    keys_ = {alice_old.keyid: {**alice_old.to_dict(), "keyid": alice_old.keyid}}
    _reference_layout([_step("write-code", [alice_old.keyid])], keys_, owner_signer, demo / "root.layout")
    assert json.loads((demo / "root.layout").read_text())["signatures"][0]["keyid"] == owner_old.keyid
    # alice records with today's in-toto-run: her link is signed under today's key id
    _in_toto_run(demo, "write-code", "--signing-key", str(demo / "alice.key"), "-p", "foo.py", "-d", "links")
    link = next((demo / "links").glob("write-code.*.link"))
    assert json.loads(link.read_text())["signatures"][0]["keyid"] != alice_old.keyid
    _ok(_verify(demo))
    # the content still decides: mallory signing under the owner's (old) key id is refused
    mallory = CryptoSigner(keys.load_private(demo / "mallory.key", None))
    forged = _reference_layout([_step("write-code", [alice_old.keyid])], keys_, mallory, demo / "forged.layout")
    doc = json.loads(forged.read_text())
    doc["signatures"][0]["keyid"] = owner_old.keyid
    forged.write_text(json.dumps(doc))
    r = _verify(demo, "forged.layout")
    assert r.code == 1 and "error[layout-signature-invalid]" in r.err, r.err
    # and a link by mallory filed under alice's key id prefix
    link.unlink()
    _in_toto_run(demo, "write-code", "--signing-key", str(demo / "mallory.key"), "-p", "foo.py", "-d", "links")
    r = _verify(demo)
    assert r.code == 1 and "error[link-signer-not-authorised]" in r.err, r.err


def _golang_layout(d: Path) -> dict:
    """An in-toto-golang style layout: root and intermediate CAs, certificate constraints on a step."""
    from securesystemslib.signer import SSlibKey

    alice = SSlibKey.from_crypto(keys.load_public(d / "alice.pub"))
    ca = {
        "keyid": "ab" * 32,
        "keyid_hash_algorithms": ["sha256", "sha512"],
        "keytype": "ecdsa",
        "scheme": "ecdsa-sha2-nistp256",
        "keyval": {"public": "", "certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
    }
    return {
        "_type": "layout",
        "expires": "2035-01-01T00:00:00Z",
        "readme": "golang demo",
        "keys": {alice.keyid: {**alice.to_dict(), "keyid": alice.keyid}},
        "rootcas": {ca["keyid"]: ca},
        "intermediatecas": {"cd" * 32: {**ca, "keyid": "cd" * 32}},
        "steps": [
            {
                "_type": "step",
                "name": "write-code",
                "pubkeys": [alice.keyid],
                "threshold": 1,
                "expected_command": [],
                "expected_materials": [],
                "expected_products": [["ALLOW", "*"]],
                "cert_constraints": [
                    {
                        "common_name": "*",
                        "dns_names": [""],
                        "emails": ["alice@example.com"],
                        "organizations": ["*"],
                        "roots": ["*"],
                        "uris": ["spiffe://example.com/alice"],
                    }
                ],
            }
        ],
        "inspect": [],
    }


def test_golang_layout_fields_stay_in_the_signed_bytes(demo: Path):
    from securesystemslib.formats import encode_canonical
    from securesystemslib.signer import CryptoSigner

    doc = _golang_layout(demo)
    owner = CryptoSigner(keys.load_private(demo / "owner.key", None))
    sig = owner.sign(encode_canonical(doc).encode())  # the canonical JSON every implementation signs
    (demo / "root.layout").write_text(json.dumps({"signed": doc, "signatures": [sig.to_dict()]}, indent=2))
    _in_toto_run(demo, "write-code", "--signing-key", str(demo / "alice.key"), "-p", "foo.py", "-d", "links")
    _ok(_verify(demo))
    # a second owner adds a signature with assay: the golang fields are kept and both signatures cover them
    _ok(run_assay("keygen", "--output-prefix", "second", cwd=demo))
    _ok(run_assay("layout", "sign", "root.layout", "--key", "second.key", "--out", "both.layout", cwd=demo))
    both = json.loads((demo / "both.layout").read_text())
    assert both["signed"] == doc and len(both["signatures"]) == 2
    args = ["verify-layout", "--layout", "both.layout", "--links", "links"]
    _ok(run_assay(*args, "--layout-key", "owner.pub", "--layout-key", "second.pub", cwd=demo))
    # tampering with any golang field breaks every signature
    for field, value in (("rootcas", {}), ("intermediatecas", {}), ("cert_constraints", [])):
        tampered = json.loads(json.dumps(both))
        if field == "cert_constraints":
            tampered["signed"]["steps"][0][field] = value
        else:
            tampered["signed"][field] = value
        (demo / "tampered.layout").write_text(json.dumps(tampered))
        r = _verify(demo, "tampered.layout")
        assert r.code == 1 and "error[layout-signature-invalid]" in r.err, (field, r.err)


# ---- GPG functionaries and layout keys (in-toto's gpg key type, signed by gpg through securesystemslib) -------


def _gpg(home: Path, *args: str, faked: str | None = None) -> str:
    cmd = [require_tool("gpg"), "--batch", "--homedir", str(home), "--pinentry-mode", "loopback", "--passphrase", ""]
    if faked:
        cmd.append(f"--faked-system-time={faked}")
    r = subprocess.run([*cmd, *args], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def _gen(home: Path, uid: str, algo: str, *, subkey: bool = False, faked: str | None = None, expiry: str = "0") -> str:
    usage = "cert" if subkey else "sign"
    _gpg(home, "--quick-gen-key", uid, algo, usage, expiry, faked=faked)
    fpr = next(
        line.split(":")[9]
        for line in _gpg(home, "--with-colons", "--list-keys", uid).splitlines()
        if line.startswith("fpr:")
    )
    if subkey:
        _gpg(home, "--quick-add-key", fpr, algo, "sign", "0", faked=faked)
    return fpr


@pytest.fixture(scope="module")
def gpg_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    fprs = {
        "owner": _gen(home, "Owner <owner@example.com>", "rsa2048"),
        "alice": _gen(home, "Alice <alice@example.com>", "rsa2048", subkey=True),  # signs with her subkey
        "mallory": _gen(home, "Mallory <mallory@example.com>", "ed25519"),
        # made in 2020 with a lifetime of a day: long expired today
        "old": _gen(home, "Old <old@example.com>", "rsa2048", faked="20200101T000000", expiry="1d"),
    }
    for name, fpr in fprs.items():
        (home / f"{name}.asc").write_text(_gpg(home, "--armor", "--export", fpr))
    return home, fprs


def _gpg_env(faked: str | None, tmp: Path) -> dict[str, str]:
    """securesystemslib runs the command in $GNUPG: a wrapper that signs as of another time (for old keys)."""
    import os

    if not faked:
        return dict(os.environ)
    wrapper = tmp / "gpg-then"
    wrapper.write_text(f'#!/bin/sh\nexec {require_tool("gpg")} --faked-system-time={faked} "$@"\n')
    wrapper.chmod(0o755)
    return {**os.environ, "GNUPG": str(wrapper)}


def _gpg_layout(home: Path, fprs: dict[str, str], functionary: str, path: Path) -> Path:
    """The demo layout with a gpg functionary, written by the in-toto library (unsigned; in-toto-sign signs)."""
    from in_toto.models.layout import Layout
    from in_toto.models.metadata import Metablock

    layout = Layout()
    layout.set_relative_expiration(days=30)
    key = layout.add_functionary_key_from_gpg_keyid(fprs[functionary], gpg_home=str(home))
    layout.steps = [_step("write-code", [key["keyid"]])]
    Metablock(signed=layout).dump(str(path))
    return path


def _in_toto_sign(home: Path, fpr: str, path: Path, env: dict[str, str]) -> None:
    r = subprocess.run(
        [require_tool("in-toto-sign"), "-f", str(path), "--gpg", fpr, "--gpg-home", str(home), "-o", str(path)],
        capture_output=True, timeout=120, env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr


def _gpg_chain(demo: Path, home: Path, fprs: dict[str, str], *, signer: str, functionary: str, recorder: str):
    layout = _gpg_layout(home, fprs, functionary, demo / "root.layout")
    then = "20200101T120000"  # the old key signs as of its lifetime; the others as of now
    _in_toto_sign(home, fprs[signer], layout, _gpg_env(then if signer == "old" else None, demo))
    env = _gpg_env(then if recorder == "old" else None, demo)
    r = subprocess.run(
        [require_tool("in-toto-run"), "-n", "write-code", "--gpg", fprs[recorder], "--gpg-home", str(home),
         "-p", "foo.py", "-d", "links", "--", "true"],
        cwd=demo, capture_output=True, timeout=120, env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr


def _both(demo: Path, home: Path, fprs: dict[str, str], layout_key: str = "owner"):
    a = run_assay(
        "verify-layout", "--layout", "root.layout", "--layout-key", str(home / f"{layout_key}.asc"),
        "--links", "links", cwd=demo,
    )  # fmt: skip
    ref = subprocess.run(
        [require_tool("in-toto-verify"), "-l", "root.layout", "--gpg", fprs[layout_key], "--gpg-home", str(home),
         "--link-dir", "links"],
        cwd=demo, capture_output=True, timeout=120,
    )  # fmt: skip
    return a, ref.returncode


def test_gpg_layout_and_gpg_functionary_verify(demo: Path, gpg_home):
    home, fprs = gpg_home
    _gpg_chain(demo, home, fprs, signer="owner", functionary="alice", recorder="alice")
    link = json.loads(next((demo / "links").glob("write-code.*.link")).read_text())
    assert "other_headers" in link["signatures"][0]  # a gpg signature, by alice's signing subkey
    assert link["signatures"][0]["keyid"] != fprs["alice"].lower()
    a, ref = _both(demo, home, fprs)
    assert (a.code, ref) == (0, 0), a.err
    # adding a PEM owner's signature with assay keeps the gpg signature intact
    _ok(run_assay("layout", "sign", "root.layout", "--key", "owner.key", "--out", "both.layout", cwd=demo))
    both = json.loads((demo / "both.layout").read_text())
    assert [s.get("other_headers") is not None for s in both["signatures"]] == [True, False]
    _ok(run_assay(
        "verify-layout", "--layout", "both.layout", "--layout-key", str(home / "owner.asc"),
        "--layout-key", "owner.pub", "--links", "links", cwd=demo,
    ))  # fmt: skip


@pytest.mark.parametrize(
    ("signer", "functionary", "recorder", "reason"),
    [
        ("mallory", "alice", "alice", "layout-signature-invalid"),  # the layout by an unknown gpg key
        ("owner", "alice", "mallory", "link-signer-not-authorised"),  # the link by an unknown gpg key
        ("old", "alice", "alice", "layout-signature-invalid"),  # the layout key has expired
        ("owner", "old", "old", "link-signer-not-authorised"),  # the functionary's key has expired
    ],
)
def test_gpg_unknown_and_expired_keys_refused_like_other_keys(
    demo: Path, gpg_home, signer: str, functionary: str, recorder: str, reason: str
):
    home, fprs = gpg_home
    _gpg_chain(demo, home, fprs, signer=signer, functionary=functionary, recorder=recorder)
    layout_key = "old" if signer == "old" else "owner"
    a, ref = _both(demo, home, fprs, layout_key)
    assert (a.code, ref) == (1, 1), a.err
    assert f"error[{reason}]" in a.err, a.err
    if "old" in (signer, functionary):
        assert "expired" in a.err, a.err
