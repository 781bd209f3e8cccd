"""in-toto's gpg signature entries and OpenPGP layout keys: malformed input is refused with a reason."""

from __future__ import annotations

import json

import pytest

from assay.errors import InputError
from assay.layout.envelope import check_signature, is_gpg, parse_signed
from assay.pgp import intoto

DOC = {"_type": "link", "name": "build", "materials": {}, "products": {}}


def _block(sig: dict) -> bytes:
    return json.dumps({"signed": DOC, "signatures": [sig]}).encode()


def test_gpg_signature_entries_are_parsed():
    sd = parse_signed(_block({"keyid": "AB" * 20, "signature": "00ff", "other_headers": "0400"}), "x.link")
    assert sd.gpg == [{"keyid": "AB" * 20, "signature": "00ff", "other_headers": "0400"}]
    assert sd.raw_signatures[0]["other_headers"] == "0400"


@pytest.mark.parametrize(
    "sig",
    [
        {"keyid": "ab", "signature": "zz", "other_headers": "00"},
        {"keyid": "ab", "signature": "00", "other_headers": "not hex"},
        {"keyid": "ab", "signature": "00", "other_headers": 5},
        {"keyid": "ab", "signature": 7},
    ],
)
def test_malformed_gpg_signature_entries_are_bad_input(sig: dict):
    with pytest.raises(InputError) as exc:
        parse_signed(_block(sig), "x.link")
    assert exc.value.reason == "link-malformed"


@pytest.mark.parametrize(
    "data",
    [
        b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!notbase64\n-----END PGP PUBLIC KEY BLOCK-----\n",
        b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n",
        b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQ==\n-----END PGP PUBLIC KEY BLOCK-----\n",
        b"\x99\x00\x01\x04",
    ],
)
def test_malformed_openpgp_layout_keys_are_bad_input(data: bytes):
    assert intoto.is_openpgp(data)
    with pytest.raises(InputError) as exc:
        intoto.key_dict(data, "owner.asc")
    assert exc.value.reason == "pgp-malformed-key"


def test_a_gpg_key_checks_only_gpg_signatures():
    kd = {"keyid": "ab" * 20, "type": "rsa", "method": "pgp+rsa-pkcsv1.5", "keyval": {"public": {"e": "1", "n": "1"}}}
    assert is_gpg(kd)
    ok, why = check_signature(parse_signed(_block({"keyid": "ab" * 20, "sig": "00"}), "x"), kd)
    assert not ok and "no GPG signature" in why
    sd = parse_signed(_block({"keyid": "ab" * 20, "signature": "00", "other_headers": "00"}), "x")
    ok, why = check_signature(sd, kd)
    assert not ok and "no valid signature" in why
