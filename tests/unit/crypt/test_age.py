"""The age v1 codec: round trips, the STREAM edge cases, and every refusal with its reason code."""

from __future__ import annotations

import io
import os

import pytest

from assay.crypt import age, bech32
from assay.errors import AssayError


def _enc(data: bytes, *recips: age.Recipient) -> bytes:
    out = io.BytesIO()
    age.encrypt(io.BytesIO(data), out, list(recips))
    return out.getvalue()


def _dec(blob: bytes, *idents: age.Identity) -> bytes:
    out = io.BytesIO()
    age.decrypt(io.BytesIO(blob), out, list(idents))
    return out.getvalue()


def _reason(blob: bytes, ident: age.Identity) -> str:
    with pytest.raises(AssayError) as exc:
        _dec(blob, ident)
    return exc.value.reason


@pytest.fixture(scope="module")
def ident() -> age.Identity:
    return age.Identity.generate()


@pytest.mark.parametrize("size", [0, 1, age.CHUNK - 1, age.CHUNK, age.CHUNK + 1, 2 * age.CHUNK, 3 * age.CHUNK + 7])
def test_round_trip_at_chunk_edges(ident: age.Identity, size: int) -> None:
    data = os.urandom(size)
    blob = _enc(data, ident.recipient())
    assert _dec(blob, ident) == data
    chunks = max(1, -(-size // age.CHUNK))
    assert blob.endswith(blob[-16:]) and len(blob) - blob.index(b"\n---") > size + 16 * chunks


def test_key_strings_round_trip(ident: age.Identity) -> None:
    assert age.Identity.parse(str(ident)) == ident
    assert str(ident).startswith("AGE-SECRET-KEY-1")
    rec = ident.recipient()
    assert str(rec).startswith("age1") and age.Recipient.parse(str(rec)) == rec
    assert bech32.decode(bech32.encode("age", b"\x01" * 32)) == ("age", b"\x01" * 32)


def test_many_recipients_and_unknown_stanzas_ignored(ident: age.Identity) -> None:
    other = age.Identity.generate()
    file_key = os.urandom(16)
    grease = age.Stanza("x-grease", ("a", "b"), os.urandom(70))  # a body longer than one 64-column line
    stanzas = [grease, other.recipient().wrap(file_key), ident.recipient().wrap(file_key)]
    head = age.encode_header(stanzas, file_key)
    nonce = os.urandom(16)
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    key = age._hkdf(file_key, nonce, b"payload")
    body = ChaCha20Poly1305(key).encrypt(age._nonce(0, True), b"hello", None)
    blob = head + nonce + body
    assert _dec(blob, ident) == b"hello"
    assert _dec(blob, other) == b"hello"


def test_wrong_identity_refused(ident: age.Identity) -> None:
    blob = _enc(b"x", ident.recipient())
    assert _reason(blob, age.Identity.generate()) == "no-matching-identity"


def test_tampered_header_refused(ident: age.Identity) -> None:
    blob = _enc(b"secret", ident.recipient())
    i = blob.index(b"\n---")
    tampered = blob[:i] + b"\n-> extra\n\n" + blob[i + 1 :]
    assert _reason(tampered, ident) == "header-mac-mismatch"


def test_corrupt_chunk_refused(ident: age.Identity) -> None:
    blob = bytearray(_enc(os.urandom(3 * age.CHUNK), ident.recipient()))
    blob[-age.CHUNK] ^= 1
    assert _reason(bytes(blob), ident) == "ciphertext-corrupt"


def test_truncated_at_chunk_boundary_refused(ident: age.Identity) -> None:
    blob = _enc(os.urandom(2 * age.CHUNK + 10), ident.recipient())
    cut = blob[: len(blob) - (10 + 16)]  # drop the final chunk: the full chunk before it is not flagged final
    assert _reason(cut, ident) == "truncated-file"
    assert _reason(blob[: blob.index(b"\n---") + 60], ident) == "truncated-file"


def test_trailing_data_refused(ident: age.Identity) -> None:
    blob = _enc(os.urandom(age.CHUNK), ident.recipient())
    assert _reason(blob + b"\0" * 20, ident) == "ciphertext-corrupt"


@pytest.mark.parametrize(
    ("blob", "reason"),
    [
        (b"not age at all\n", "not-age"),
        (b"age-encryption.org/v1\n-> X25519\n", "malformed-header"),
        (b"age-encryption.org/v1\n-> X25519 AAAA\nAAAA=\n--- AAAA\n", "malformed-header"),
        (b"-----BEGIN AGE ENCRYPTED FILE-----\n", "unsupported-armor"),
    ],
)
def test_malformed_headers(ident: age.Identity, blob: bytes, reason: str) -> None:
    assert _reason(blob, ident) == reason


@pytest.mark.parametrize("text", ["age1notvalid", "age1" + "q" * 58, "bogus", str(age.Identity(bytes(range(32))))])
def test_bad_recipient_strings(text: str) -> None:
    with pytest.raises(AssayError) as exc:
        age.Recipient.parse(text)
    assert exc.value.reason == "bad-recipient"
