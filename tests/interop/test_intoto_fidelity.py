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
