import pytest

from assay.errors import InputError
from assay.formats.dsse import Envelope, Signature, pae


def test_pae_matches_dsse_spec_test_vector():
    # Test vector from the DSSE protocol specification (protocol.md).
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters():
    assert pae("t", "é".encode()) == b"DSSEv1 1 t 2 " + "é".encode()


def test_envelope_round_trip():
    env = Envelope(b'{"a":1}', "application/vnd.in-toto+json", (Signature(b"\x01\x02", "k"),))
    assert Envelope.from_json(env.to_json()) == env


def test_envelope_without_signatures_is_rejected():
    with pytest.raises(InputError) as exc:
        Envelope.from_json({"payload": "e30=", "payloadType": "x", "signatures": []})
    assert exc.value.reason == "dsse-no-signatures"


def test_envelope_with_truncated_base64_is_rejected():
    with pytest.raises(InputError) as exc:
        Envelope.from_json({"payload": "e30=A", "payloadType": "x", "signatures": [{"sig": "AA=="}]})
    assert exc.value.reason == "malformed-base64"
