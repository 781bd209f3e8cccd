"""The age v1 file format (C2SP age): X25519 recipients, header MAC, STREAM payload in 64 KiB chunks.

Encryption and decryption stream between file objects; memory stays at a couple of chunks whatever the size.
Decryption hands a chunk to ``sink`` only after it authenticated; the caller renames its output only after
:func:`decrypt` returns, which happens only after the chunk flagged final authenticated at end of input.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from assay.crypt import bech32
from assay.errors import InputError, VerificationError

INTRO = b"age-encryption.org/v1"
X25519_LABEL = b"age-encryption.org/v1/X25519"
CHUNK = 64 * 1024
TAG = 16
HEADER_LIMIT = 1 << 20  # bytes of header before the file is refused as malformed
_RAW = serialization.Encoding.Raw


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str, what: str) -> bytes:
    """Canonical unpadded standard base64 (age refuses padding and non-canonical trailing bits)."""
    if "=" in text or "\n" in text or "\r" in text:
        raise InputError("malformed-header", f"{what}: base64 must be unpadded")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InputError("malformed-header", f"{what}: not base64") from None
    if _b64(data) != text:
        raise InputError("malformed-header", f"{what}: non-canonical base64")
    return data


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt or None, info).derive(ikm)


@dataclass(frozen=True)
class Stanza:
    """One recipient stanza: type, arguments and body."""

    type: str
    args: tuple[str, ...]
    body: bytes

    def encode(self) -> bytes:
        line = " ".join(("->", self.type, *self.args)).encode() + b"\n"
        text = _b64(self.body)
        lines = [text[i : i + 64] for i in range(0, len(text), 64)]
        if not lines or len(lines[-1]) == 64:
            lines.append("")  # the body ends with a line shorter than 64 columns, possibly empty
        return line + "".join(f"{ln}\n" for ln in lines).encode()


@dataclass(frozen=True)
class Recipient:
    """An X25519 recipient (``age1…``)."""

    public: bytes

    @classmethod
    def parse(cls, text: str) -> Recipient:
        try:
            hrp, data = bech32.decode(text.strip())
        except InputError:
            raise InputError("bad-recipient", f"{text!r} is not an age recipient (age1…)") from None
        if hrp != "age" or len(data) != 32 or text.strip() != text.strip().lower():
            raise InputError("bad-recipient", f"{text!r} is not an X25519 age recipient")
        return cls(data)

    def __str__(self) -> str:
        return bech32.encode("age", self.public)

    def wrap(self, file_key: bytes) -> Stanza:
        eph = X25519PrivateKey.generate()
        share = eph.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
        shared = eph.exchange(X25519PublicKey.from_public_bytes(self.public))
        key = _hkdf(shared, share + self.public, X25519_LABEL)
        return Stanza("X25519", (_b64(share),), ChaCha20Poly1305(key).encrypt(b"\0" * 12, file_key, None))


@dataclass(frozen=True)
class Identity:
    """An X25519 identity (``AGE-SECRET-KEY-1…``)."""

    secret: bytes

    @classmethod
    def generate(cls) -> Identity:
        return cls(X25519PrivateKey.generate().private_bytes(_RAW, serialization.PrivateFormat.Raw, _NOENC))

    @classmethod
    def parse(cls, text: str) -> Identity:
        try:
            hrp, data = bech32.decode(text.strip())
        except InputError:
            raise InputError("bad-identity", "not an age identity (AGE-SECRET-KEY-1…)") from None
        if hrp != "age-secret-key-" or len(data) != 32:
            raise InputError("bad-identity", "not an X25519 age identity")
        return cls(data)

    def __str__(self) -> str:
        return bech32.encode("age-secret-key-", self.secret).upper()

    def recipient(self) -> Recipient:
        pub = X25519PrivateKey.from_private_bytes(self.secret).public_key()
        return Recipient(pub.public_bytes(_RAW, serialization.PublicFormat.Raw))

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        """The file key from the first X25519 stanza this identity opens; None when none is for it."""
        priv = X25519PrivateKey.from_private_bytes(self.secret)
        ours = self.recipient().public
        for st in stanzas:
            if st.type != "X25519":
                continue  # other stanza types (scrypt, plugins, grease) are not ours to open
            if len(st.args) != 1 or len(st.body) != 32:
                raise InputError("malformed-stanza", "X25519 stanza needs one argument and a 32-byte body")
            share = _unb64(st.args[0], "X25519 share")
            if len(share) != 32:
                raise InputError("malformed-stanza", "X25519 share is not 32 bytes")
            shared = priv.exchange(X25519PublicKey.from_public_bytes(share))
            if shared == b"\0" * 32:
                raise InputError("malformed-stanza", "X25519 share is a low-order point")
            key = _hkdf(shared, share + ours, X25519_LABEL)
            try:
                return ChaCha20Poly1305(key).decrypt(b"\0" * 12, st.body, None)
            except InvalidTag:
                continue
        return None


_NOENC = serialization.NoEncryption()


def parse_identities(text: str) -> list[Identity]:
    """Identities from an identity file: one ``AGE-SECRET-KEY-1…`` a line, ``#`` comments and blank lines."""
    out = [Identity.parse(ln) for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not out:
        raise InputError("bad-identity", "the identity file holds no AGE-SECRET-KEY-1 line")
    return out


def _mac_key(file_key: bytes) -> bytes:
    return _hkdf(file_key, b"", b"header")


def header_mac_ok(file_key: bytes, macked: bytes, mac: bytes) -> bool:
    """Whether ``mac`` is the header MAC of ``macked`` under ``file_key``."""
    return hmac.compare_digest(hmac.new(_mac_key(file_key), macked, hashlib.sha256).digest(), mac)


def header_bytes(macked: bytes, mac: bytes) -> bytes:
    """The header as written, from what :func:`read_header` returned."""
    return macked + b" " + _b64(mac).encode() + b"\n"


def encode_header(stanzas: Iterable[Stanza], file_key: bytes) -> bytes:
    """The header bytes, MAC included, ending with the newline after the MAC."""
    head = INTRO + b"\n" + b"".join(s.encode() for s in stanzas) + b"---"
    mac = hmac.new(_mac_key(file_key), head, hashlib.sha256).digest()
    return head + b" " + _b64(mac).encode() + b"\n"


def read_header(src: BinaryIO) -> tuple[list[Stanza], bytes, bytes]:
    """(stanzas, the MACed bytes, MAC) read off ``src``, which is left at the payload's first byte."""
    total = 0

    def line() -> bytes:
        nonlocal total
        raw = src.readline(HEADER_LIMIT)
        total += len(raw)
        if not raw.endswith(b"\n") or total > HEADER_LIMIT:
            raise InputError("malformed-header", "the age header ends early or is too long")
        return raw[:-1]

    first = line()
    if first != INTRO:
        if first.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----"):
            raise InputError("unsupported-armor", "ASCII-armored age files are not supported; use binary")
        raise InputError("not-age", "not an age v1 file (bad version line)")
    macked = first + b"\n"
    stanzas: list[Stanza] = []
    current = line()
    while True:
        if current.startswith(b"---"):
            if not current.startswith(b"--- "):
                raise InputError("malformed-header", "bad MAC line")
            macked += b"---"
            return stanzas, macked, _unb64(current[4:].decode("ascii", "replace"), "header MAC")
        if not current.startswith(b"-> "):
            raise InputError("malformed-header", "expected a stanza or the MAC line")
        macked += current + b"\n"
        try:
            parts = current.decode("ascii").split(" ")
        except UnicodeDecodeError:
            raise InputError("malformed-header", "non-ASCII stanza line") from None
        if len(parts) < 2 or any(not p or any(ord(c) < 33 or ord(c) > 126 for c in p) for p in parts[1:]):
            raise InputError("malformed-header", "stanza arguments must be non-empty printable strings")
        body = b""
        while True:
            bl = line()
            macked += bl + b"\n"
            if len(bl) > 64:
                raise InputError("malformed-header", "stanza body line longer than 64 columns")
            body += bl
            if len(bl) < 64:
                break
        stanzas.append(Stanza(parts[1], tuple(parts[2:]), _unb64(body.decode("ascii", "replace"), "stanza body")))
        current = line()


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class Wrapper(Protocol):
    """Anything that wraps a file key in a recipient stanza (X25519 here, P-256 in :mod:`assay.crypt.p256`)."""

    def wrap(self, file_key: bytes) -> Stanza: ...


def encrypt(src: BinaryIO, sink: BinaryIO, recipients: Sequence[Wrapper]) -> int:
    """Encrypt ``src`` to ``sink`` for ``recipients``; returns the plaintext size."""
    if not recipients:
        raise InputError("no-recipients", "at least one recipient is needed")
    file_key = os.urandom(16)
    sink.write(encode_header((r.wrap(file_key) for r in recipients), file_key))
    nonce = os.urandom(16)
    sink.write(nonce)
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    counter = size = 0
    chunk = _read_full(src, CHUNK)
    while True:
        nxt = _read_full(src, CHUNK) if len(chunk) == CHUNK else b""
        last = not nxt
        sink.write(aead.encrypt(_nonce(counter, last), chunk, None))
        size += len(chunk)
        if last:
            return size
        counter += 1
        chunk = nxt


def _read_full(src: BinaryIO, n: int) -> bytes:
    parts: list[bytes] = []
    want = n
    while want:
        got = src.read(want)
        if not got:
            break
        parts.append(got)
        want -= len(got)
    return parts[0] if len(parts) == 1 else b"".join(parts)


class Unwrapper(Protocol):
    """Anything that opens a file key from recipient stanzas (an identity, or a key broker's client)."""

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None: ...


def decrypt(src: BinaryIO, sink: BinaryIO, identities: Sequence[Unwrapper]) -> int:
    """Decrypt ``src`` into ``sink``; raises (``header-mac-mismatch``, ``truncated-file``, ``ciphertext-corrupt``,
    ``no-matching-identity``, …) before returning if any byte fails to authenticate. Returns the plaintext size."""
    stanzas, macked, mac = read_header(src)
    file_key = None
    for ident in identities:
        file_key = ident.unwrap(stanzas)
        if file_key is not None:
            break
    if file_key is None:
        raise VerificationError("no-matching-identity", "no identity opens any recipient stanza of this file")
    if len(file_key) != 16:
        raise InputError("malformed-stanza", "the wrapped file key is not 16 bytes")
    if not header_mac_ok(file_key, macked, mac):
        raise VerificationError("header-mac-mismatch", "the age header MAC does not match (tampered header)")
    nonce = _read_full(src, 16)
    if len(nonce) != 16:
        raise VerificationError("truncated-file", "the age file ends before its payload nonce")
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    counter = size = 0
    block = CHUNK + TAG
    chunk = _read_full(src, block)
    while True:
        nxt = _read_full(src, block) if len(chunk) == block else b""
        last = not nxt
        if len(chunk) < TAG:
            reason = "truncated-file" if counter else "ciphertext-corrupt"
            raise VerificationError(reason, f"chunk {counter} is shorter than its tag")
        try:
            plain = aead.decrypt(_nonce(counter, last), chunk, None)
        except InvalidTag:
            if last and len(chunk) == block:
                try:
                    aead.decrypt(_nonce(counter, False), chunk, None)
                except InvalidTag:
                    pass
                else:
                    raise VerificationError(
                        "truncated-file", f"the age file ends after chunk {counter} without a final chunk"
                    ) from None
            raise VerificationError("ciphertext-corrupt", f"chunk {counter} fails authentication") from None
        if last and not plain and counter:
            raise VerificationError("ciphertext-corrupt", "an empty final chunk follows a full one")
        sink.write(plain)
        size += len(plain)
        if last:
            return size
        counter += 1
        chunk = nxt
