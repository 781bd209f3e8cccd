"""cosign's detached and legacy codecs: what is accepted and what is refused, without a network."""

import base64
from pathlib import Path

import pytest

from assay.errors import InputError
from assay.formats import cosign

LEGACY = Path(__file__).parents[2] / "data" / "realworld" / "legacy"
PEM = (LEGACY / "offline-rekor.txt.crt").read_bytes()


def test_signature_codec_round_trips() -> None:
    assert cosign.decode_signature(cosign.encode_signature(b"\x01\x02") + b"\n") == b"\x01\x02"


@pytest.mark.parametrize("data", [b"", b"   \n", b"not base64!", b"abc$", b"===="])
def test_signature_not_base64(data: bytes) -> None:
    with pytest.raises(InputError) as e:
        cosign.decode_signature(data)
    assert e.value.reason == "signature-not-base64"


def test_certificate_pem_and_base64_pem_are_the_same() -> None:
    der = cosign.decode_certificate(PEM)
    assert cosign.decode_certificate(base64.b64encode(PEM)) == der
    assert cosign.decode_certificate(cosign.encode_certificate(der)) == der


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (PEM * 2, "certificate-count"),
        (b"hello", "certificate-malformed"),
        (base64.b64encode(b"hello"), "certificate-malformed"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate-malformed"),
    ],
)
def test_bad_certificates(data: bytes, reason: str) -> None:
    with pytest.raises(InputError) as e:
        cosign.decode_certificate(data)
    assert e.value.reason == reason


def test_legacy_round_trip() -> None:
    import json

    doc = json.loads((LEGACY / "offline-rekor.txt.cosign.bundle").read_text())
    b = cosign.parse_legacy_bundle(doc)
    assert b.version == (0, 1) and b.tlog_entries[0].log_index == 827575
    assert b.message_signature is not None and b.message_signature.digest is not None
    back = cosign.to_legacy_bundle(b)
    assert back["rekorBundle"] == doc["rekorBundle"] and back["base64Signature"] == doc["base64Signature"]
    assert base64.b64decode(back["cert"]) == base64.b64decode(doc["cert"])
    assert cosign.to_v01_json(b)["verificationMaterial"]["x509CertificateChain"]["certificates"]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.update(rekorBundle=[]), "legacy-bundle-malformed"),
        (lambda d: d["rekorBundle"]["Payload"].update(logID="zz"), "legacy-bundle-malformed"),
        (lambda d: d["rekorBundle"]["Payload"].update(logIndex=-1), None),
        (lambda d: d.update(base64Signature=""), "legacy-bundle-malformed"),
    ],
)
def test_bad_legacy(mutate, reason) -> None:
    import json

    doc = json.loads((LEGACY / "offline-rekor.txt.cosign.bundle").read_text())
    mutate(doc)
    with pytest.raises(InputError) as e:
        cosign.parse_legacy_bundle(doc)
    if reason:
        assert e.value.reason == reason
