import os
import stat

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec

from assay.crypto import keys
from assay.crypto.signer import KeyFileSigner, is_signer_uri
from assay.errors import AssayError, EnvironmentFailure, InputError


@pytest.mark.parametrize("key_type", keys.KEY_TYPES)
def test_generated_keys_sign_and_verify(key_type, tmp_path):
    key = keys.generate(key_type)
    path = tmp_path / "k.key"
    keys.write_private(path, keys.private_pem(key, b"pw"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    loaded = keys.load_private(path, b"pw")
    signer = KeyFileSigner(loaded)
    pub = keys.parse_public(keys.public_pem(key.public_key()), "pub")
    sig = signer.sign_message(b"hello")
    assert keys.verify_message(pub, sig, b"hello")
    assert not keys.verify_message(pub, sig, b"hellO")


def test_unknown_key_type_rejected():
    with pytest.raises(InputError) as exc:
        keys.generate("dsa-1024")
    assert exc.value.reason == "unsupported-key-type"


def test_world_readable_private_key_refused(tmp_path):
    path = tmp_path / "k.key"
    keys.write_private(path, keys.private_pem(keys.generate("ecdsa-p256"), None))
    os.chmod(path, 0o644)
    with pytest.raises(EnvironmentFailure) as exc:
        keys.load_private(path, None)
    assert exc.value.reason == "insecure-key-permissions"


def test_write_private_never_overwrites(tmp_path):
    path = tmp_path / "k.key"
    path.write_text("precious")
    with pytest.raises(InputError):
        keys.write_private(path, b"new")
    assert path.read_text() == "precious"


@pytest.mark.parametrize(("password", "reason"), [(None, "key-password-required"), (b"wrong", "key-password-wrong")])
def test_encrypted_key_needs_right_password(tmp_path, password, reason):
    path = tmp_path / "k.key"
    keys.write_private(path, keys.private_pem(keys.generate("ecdsa-p256"), b"right"))
    with pytest.raises(InputError) as exc:
        keys.load_private(path, password)
    assert exc.value.reason == reason


def test_private_key_where_public_expected(tmp_path):
    pem = keys.private_pem(keys.generate("ed25519"), None)
    with pytest.raises(InputError) as exc:
        keys.parse_public(pem, "x")
    assert exc.value.reason == "private-key-given"


def test_public_key_where_private_expected(tmp_path):
    path = tmp_path / "k.pub"
    path.write_bytes(keys.public_pem(keys.generate("ed25519").public_key()))
    os.chmod(path, 0o600)
    with pytest.raises(InputError) as exc:
        keys.load_private(path, None)
    assert exc.value.reason == "public-key-given"


def test_unsupported_public_key_types():
    dsa_pub = dsa.generate_private_key(2048).public_key()
    pem = dsa_pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(InputError) as exc:
        keys.parse_public(pem, "x")
    assert exc.value.reason == "unsupported-key-type"
    p192 = ec.generate_private_key(ec.SECP192R1()).public_key() if _has_p192() else None
    if p192 is not None:
        with pytest.raises(InputError):
            keys.parse_public(keys.public_pem(p192), "x")  # type: ignore[arg-type]


def _has_p192() -> bool:
    try:
        ec.generate_private_key(ec.SECP192R1())
        return True
    except Exception:
        return False


def test_garbage_public_key():
    with pytest.raises(InputError) as exc:
        keys.parse_public(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n", "x")
    assert exc.value.reason == "malformed-key"


def test_digest_signing_equals_message_signing():
    key = keys.generate("ecdsa-p256")
    signer = KeyFileSigner(key)
    import hashlib

    sig = signer.sign_digest(hashlib.sha256(b"data").digest())
    assert sig is not None
    assert keys.verify_message(key.public_key(), sig, b"data")
    assert keys.verify_prehashed(key.public_key(), sig, hashlib.sha256(b"data").digest(), hashes.SHA256())


def test_ed25519_cannot_sign_or_verify_digests():
    key = keys.generate("ed25519")
    assert KeyFileSigner(key).sign_digest(b"\0" * 32) is None
    with pytest.raises(AssayError) as exc:
        keys.verify_prehashed(key.public_key(), b"\0" * 64, b"\0" * 32, hashes.SHA256())
    assert exc.value.reason == "digest-verification-unsupported"


def test_signer_uri_detection():
    assert is_signer_uri("hsm:2?label=x")
    assert is_signer_uri("awskms:alias/foo")
    assert not is_signer_uri("release.key")
    assert not is_signer_uri("C:key")
