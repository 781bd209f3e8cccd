import json
from dataclasses import replace

import pytest

from assay.errors import InputError
from assay.formats.bundle import MEDIA_TYPE_V03, Bundle, MessageSignature, parse_bundle
from tests.conftest import CONFORMANCE

CASES = CONFORMANCE / "bundle-verify"


def _case(name: str) -> bytes:
    return (CASES / name / "bundle.sigstore.json").read_bytes()


@pytest.mark.parametrize(
    "name", ["happy-path-v0.2", "happy-path-v0.3", "happy-path-v0.3-new-mediaType", "rekor2-happy-path"]
)
def test_parses_real_bundles(name):
    b = parse_bundle(_case(name))
    assert b.certificates and b.tlog_entries
    assert b.tlog_entries[0].canonicalized_body


def test_v03_round_trip_keeps_everything():
    b = parse_bundle(_case("happy-path-v0.3"))
    again = parse_bundle(b.to_bytes())
    assert again.media_type == MEDIA_TYPE_V03
    assert replace(again, media_type=b.media_type) == b


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("bundle-malformed-json_fail", "malformed-json"),
        ("bundle-unknown-version_fail", "unknown-bundle-media-type"),
        ("bundle-empty-certificate-chain_fail", "bundle-empty-certificate-chain"),
        ("bundle-negative-log-index_fail", "malformed-field"),
    ],
)
def test_rejects_malformed_bundles(name, reason):
    with pytest.raises(InputError) as exc:
        parse_bundle(_case(name))
    assert exc.value.reason == reason


def _keyed() -> dict:
    return Bundle(
        MEDIA_TYPE_V03, (0, 3), public_key_hint="h", message_signature=MessageSignature(b"sig", "SHA2_256", b"d" * 32)
    ).to_json()


def test_truncated_base64_signature():
    doc = _keyed()
    doc["messageSignature"]["signature"] = doc["messageSignature"]["signature"][:-3]
    with pytest.raises(InputError) as exc:
        parse_bundle(json.dumps(doc))
    assert exc.value.reason == "malformed-base64"


def test_both_contents_rejected():
    doc = _keyed()
    doc["dsseEnvelope"] = {"payload": "", "payloadType": "x", "signatures": [{"sig": "AA=="}]}
    with pytest.raises(InputError) as exc:
        parse_bundle(json.dumps(doc))
    assert exc.value.reason == "bundle-missing-content"


def test_missing_inclusion_proof_in_v02_rejected():
    doc = json.loads(_case("happy-path-v0.2"))
    del doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    with pytest.raises(InputError) as exc:
        parse_bundle(json.dumps(doc))
    assert exc.value.reason == "bundle-missing-inclusion-proof"


def test_unknown_digest_algorithm_rejected():
    doc = _keyed()
    doc["messageSignature"]["messageDigest"]["algorithm"] = "MD5"
    with pytest.raises(InputError) as exc:
        parse_bundle(json.dumps(doc))
    assert exc.value.reason == "unsupported-digest-algorithm"
