"""Thresholds count distinct keys by their content, not key ids (issue 22.4: a threshold met by one key)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from securesystemslib.signer import CryptoSigner, SSlibKey

from assay.errors import InputError, VerificationError
from assay.layout import envelope
from assay.layout.envelope import key_content
from assay.layout.functionary import parse_checked
from assay.layout.model import Link
from assay.layout.verify import Options, verify_layout

from .conftest import NOW, MemStore, Party, digest, layout_doc, party, signed_layout

SRC = {"src/a.c": digest("1")}


def _alias(p: Party, keyid: str) -> Party:
    """The same private key presented under another key id."""
    pub = p.signer.public_key
    key = SSlibKey(keyid, pub.keytype, pub.scheme, dict(pub.keyval))
    return Party(CryptoSigner(p.signer._private_key, public_key=key))


def _layout(pubkeys: list[str], parties: list[Party], threshold: int):
    steps = [{"name": "build", "pubkeys": pubkeys, "threshold": threshold, "expected_products": [["ALLOW", "*"]]}]
    return layout_doc(steps, parties)


def test_one_key_under_two_key_ids_cannot_meet_threshold_two(owner: Party):
    bob = party()
    twin = _alias(bob, "ab" * 32)
    assert twin.keyid != bob.keyid and key_content(twin.key) == key_content(bob.key)
    doc = _layout([bob.keyid, twin.keyid], [bob, twin], 2)
    with pytest.raises(InputError) as exc:
        parse_checked(doc)
    assert exc.value.reason == "threshold-above-functionaries" and "distinct" in exc.value.message
    # the same refusal when verifying a layout the owner signed anyway
    store = MemStore()
    store.add_link(bob, Link("build", [], dict(SRC), {"app": digest("2")}))
    store.add_link(twin, Link("build", [], dict(SRC), {"app": digest("2")}))
    assert len(store.files) == 2
    with pytest.raises(InputError) as exc:
        verify_layout(signed_layout(doc, owner), [owner.key], store, Options(NOW))
    assert exc.value.reason == "threshold-above-functionaries"


def test_duplicate_key_counts_once_among_distinct_keys(owner: Party):
    bob, carol = party(), party()
    twin = _alias(bob, "cd" * 32)
    doc = _layout([bob.keyid, twin.keyid, carol.keyid], [bob, twin, carol], 2)
    sd = signed_layout(doc, owner)
    store = MemStore()
    store.add_link(bob, Link("build", [], dict(SRC), {"app": digest("2")}))
    store.add_link(twin, Link("build", [], dict(SRC), {"app": digest("2")}))
    with pytest.raises(VerificationError) as exc:
        verify_layout(sd, [owner.key], store, Options(NOW))
    assert exc.value.reason == "threshold-not-met" and "found 1" in exc.value.message
    store.add_link(carol, Link("build", [], dict(SRC), {"app": digest("2")}))
    result = verify_layout(sd, [owner.key], store, Options(NOW))
    assert sorted(result.steps[0].functionaries) == sorted([bob.keyid, carol.keyid])
    assert any("counted once" in n for n in result.notes)


def test_the_twin_link_recording_other_artifacts_conflicts(owner: Party):
    bob, carol = party(), party()
    twin = _alias(bob, "ef" * 32)
    sd = signed_layout(_layout([bob.keyid, twin.keyid, carol.keyid], [bob, twin, carol], 1), owner)
    store = MemStore()
    store.add_link(bob, Link("build", [], dict(SRC), {"app": digest("2")}))
    store.add_link(twin, Link("build", [], dict(SRC), {"app": digest("3")}))
    with pytest.raises(VerificationError) as exc:
        verify_layout(sd, [owner.key], store, Options(NOW))
    assert exc.value.reason == "functionary-links-conflict"


def test_key_content_normalises_encodings():
    bob = party()
    pem = bob.key["keyval"]["public"]
    crypto = serialization.load_pem_public_key(pem.encode())
    der_again = crypto.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    other = {**bob.key, "keyid": "00" * 32, "keyval": {"public": der_again.decode().replace("\n", "\r\n")}}
    assert key_content(other) == key_content(bob.key)
    ed = party("ed25519")
    as_pem = {
        "keytype": "ed25519",
        "scheme": "ed25519",
        "keyid": "11" * 32,
        "keyval": {
            "public": ed.signer._private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        },
    }
    assert key_content(as_pem) == key_content(ed.key)
    assert key_content(party().key) != key_content(bob.key)


def test_key_entry_must_carry_its_own_key_id(owner: Party):
    bob = party()
    doc = _layout([bob.keyid], [bob], 1)
    doc["keys"][bob.keyid] = {**bob.key, "keyid": "22" * 32}
    with pytest.raises(InputError) as exc:
        parse_checked(json.loads(json.dumps(doc)))
    assert exc.value.reason == "layout-malformed"
    del doc["keys"][bob.keyid]["keyid"]  # in-toto's entries may leave it out: the map's key names it
    assert parse_checked(doc).keys[bob.keyid]["keyid"] == bob.keyid
    assert envelope.canonical(doc) == envelope.canonical(json.loads(json.dumps(doc)))


def test_signature_under_another_key_id_verifies_by_content(owner: Party):
    bob = party()
    twin = _alias(bob, "99" * 32)  # the same key, another (say older-format) key id
    doc = _layout([bob.keyid], [bob], 1)
    sd = signed_layout(doc, owner)
    store = MemStore()
    store.add_link(twin, Link("build", [], dict(SRC), {"app": digest("2")}))
    assert verify_layout(sd, [owner.key], store, Options(NOW)).steps[0].functionaries == [bob.keyid]
    # many signatures under unrelated key ids are tried only up to a bound
    from assay.layout.envelope import MAX_OTHER_SIGNATURES, verify_legacy

    parsed = store.links()[0][1]
    good = parsed.signatures[0]
    parsed.signatures = [("aa" * 32, b"x" * 64)] * (MAX_OTHER_SIGNATURES + 1) + [good]
    assert not verify_legacy(parsed, bob.key)
    parsed.signatures = [("aa" * 32, b"x" * 64)] * (MAX_OTHER_SIGNATURES - 1) + [good]
    assert verify_legacy(parsed, bob.key)
