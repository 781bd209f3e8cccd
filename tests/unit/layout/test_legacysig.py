"""The securesystemslib-free key dicts and signature checks agree with securesystemslib's, key type by key type."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from securesystemslib.signer import CryptoSigner, Key, Signature, SSlibKey

from assay.layout import envelope, legacysig

PRIVATE = {
    "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
}


def _sslib_verifies(kd: dict, sig: bytes, message: bytes) -> bool:
    key = Key.from_dict(kd["keyid"], {k: v for k, v in kd.items() if k != "keyid"})
    try:
        key.verify_signature(Signature(kd["keyid"], sig.hex()), message)
        return True
    except Exception:  # securesystemslib raises several types for a bad signature
        return False


@pytest.mark.parametrize("kind", sorted(PRIVATE))
def test_key_dict_is_securesystemslibs(kind):
    public = PRIVATE[kind]().public_key()
    ours = legacysig.key_dict(public, envelope.canonical)
    theirs = envelope.key_dict(SSlibKey.from_crypto(public))
    assert ours == theirs
    assert list(ours) == list(theirs)


@pytest.mark.parametrize("kind", sorted(PRIVATE))
def test_signatures_verify_as_in_securesystemslib(kind):
    private = PRIVATE[kind]()
    signer = CryptoSigner(private)
    kd = envelope.key_dict(signer.public_key)
    assert legacysig.handles(kd)
    message = b'{"_type":"link"}'
    sig = bytes.fromhex(signer.sign(message).signature)
    other = bytes.fromhex(CryptoSigner(PRIVATE[kind]()).sign(message).signature)
    cases = [
        (sig, message),
        (sig, message + b" "),
        (other, message),
        (sig[:-1] + bytes([sig[-1] ^ 1]), message),
        (b"", message),
    ]
    for s, m in cases:
        assert legacysig.verify(kd, s, m) == _sslib_verifies(kd, s, m), (kind, s.hex()[:16], m)
    assert legacysig.verify(kd, sig, message)


def test_mismatched_scheme_curve_or_key_fails_like_securesystemslib():
    p256 = CryptoSigner(PRIVATE["p256"]())
    message = b"m"
    sig = bytes.fromhex(p256.sign(message).signature)
    kd = envelope.key_dict(p256.public_key)
    variants = [
        {**kd, "scheme": "ecdsa-sha2-nistp384"},  # the curve is not the scheme's
        {**kd, "keytype": "rsa", "scheme": "rsassa-pss-sha256"},  # an EC key under an RSA scheme
        {**kd, "keyval": {"public": "not a pem"}},
        {**kd, "keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": "zz"}},
    ]
    for v in variants:
        assert legacysig.handles(v)
        assert legacysig.verify(v, sig, message) is False
        assert _sslib_verifies(v, sig, message) is False


def test_other_schemes_are_left_to_securesystemslib():
    kd = envelope.key_dict(CryptoSigner(PRIVATE["p256"]()).public_key)
    for v in (
        {**kd, "keytype": "ecdsa-sha2-nistp256"},  # the deprecated keytype spelling
        {**kd, "scheme": "rsa-pkcs1v15-sha224"},
        {**kd, "keyval": {"public": 1}},
        {k: v for k, v in kd.items() if k != "keyid"},
    ):
        assert not legacysig.handles(v)


@pytest.mark.parametrize("kind", sorted(PRIVATE))
def test_fast_signer_signs_as_crypto_signer(kind):
    private = PRIVATE[kind]()
    fast = legacysig.FastSigner.for_key(private, envelope.canonical)
    if kind == "rsa":  # RSA stays with securesystemslib's signer
        assert fast is None
        return
    ref = CryptoSigner(private)
    assert fast.public_key.keyid == ref.public_key.keyid
    sig = fast.sign(b"payload")
    assert sig.keyid == ref.public_key.keyid
    ref.public_key.verify_signature(Signature(sig.keyid, sig.signature), b"payload")  # raises when it does not verify
    if kind == "ed25519":  # deterministic: byte-identical
        assert sig.signature == ref.sign(b"payload").signature
