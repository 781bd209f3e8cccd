"""Multi-digest streaming, typed digest arguments and the Sigstore algorithm registry's key/hash pairs."""

from __future__ import annotations

import hashlib
import io

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from assay.crypto import keys
from assay.crypto.digest import CHUNK, digest_file, hash_stream_multi, parse_typed_digest_ref
from assay.errors import InputError


def test_one_pass_gives_every_digest(tmp_path) -> None:
    data = b"x" * (CHUNK + 17)
    got = hash_stream_multi(io.BytesIO(data), ["sha256", "sha512", "sha384", "sha256"])
    assert got == {a: hashlib.new(a, data).digest() for a in ("sha256", "sha512", "sha384")}
    f = tmp_path / "f"
    f.write_bytes(data)
    assert digest_file(str(f), ["sha512"]) == {"sha512": hashlib.sha512(data).digest()}


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(InputError) as exc:
        hash_stream_multi(io.BytesIO(b""), ["md5"])
    assert exc.value.reason == "unsupported-digest-algorithm"


@pytest.mark.parametrize(("alg", "n"), [("sha256", 32), ("sha384", 48), ("sha512", 64)])
def test_typed_digest_arguments(alg: str, n: int) -> None:
    assert parse_typed_digest_ref(f"{alg}:" + "ab" * n) == (alg, b"\xab" * n)
    with pytest.raises(InputError) as exc:
        parse_typed_digest_ref(f"{alg}:" + "ab" * (n - 1))
    assert exc.value.reason == "bad-digest"
    assert parse_typed_digest_ref("md5:abcd") is None
    assert parse_typed_digest_ref("some/file.txt") is None


@pytest.mark.parametrize(
    ("key", "allowed"),
    [
        (ec.generate_private_key(ec.SECP256R1()).public_key(), ("sha256",)),
        (ec.generate_private_key(ec.SECP384R1()).public_key(), ("sha384", "sha256")),
        (ec.generate_private_key(ec.SECP521R1()).public_key(), ("sha512", "sha256")),
        (rsa.generate_private_key(65537, 2048).public_key(), ("sha256",)),
        (ed25519.Ed25519PrivateKey.generate().public_key(), ("sha256", "sha512")),
    ],
)
def test_registry_pairs(key: keys.PublicKey, allowed: tuple[str, ...]) -> None:
    assert keys.allowed_digests(key) == allowed


@pytest.mark.parametrize("bits", [2048, 3072, 4096])
def test_rsa_pss_and_pkcs1v15_both_verify(bits: int) -> None:
    priv = rsa.generate_private_key(65537, bits)
    digest = hashlib.sha256(b"m").digest()
    pss = priv.sign(digest, padding.PSS(padding.MGF1(hashes.SHA256()), 32), Prehashed(hashes.SHA256()))
    v15 = priv.sign(b"m", padding.PKCS1v15(), hashes.SHA256())
    pub = priv.public_key()
    assert keys.verify_prehashed(pub, pss, digest, hashes.SHA256())
    assert keys.verify_message(pub, pss, b"m")
    assert keys.verify_prehashed(pub, v15, digest, hashes.SHA256())
    assert not keys.verify_prehashed(pub, pss, hashlib.sha256(b"n").digest(), hashes.SHA256())
    assert not keys.verify_message(pub, v15[:-1] + bytes([v15[-1] ^ 1]), b"m")
