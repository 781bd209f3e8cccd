"""Key generation, PEM (de)serialisation and signature verification with public keys."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Union

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from assay.errors import EnvironmentFailure, InputError

PrivateKey = Union[ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey]
PublicKey = Union[ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, rsa.RSAPublicKey]

KEY_TYPES = ("ecdsa-p256", "ed25519", "rsa-3072")
_CURVE_HASH: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


def generate(key_type: str) -> PrivateKey:
    """Generate a private key of one of :data:`KEY_TYPES`."""
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key_type == "rsa-3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise InputError(
        "unsupported-key-type", f"unknown key type {key_type!r}", hint=f"use one of {', '.join(KEY_TYPES)}"
    )


def private_pem(key: PrivateKey, password: bytes | None) -> bytes:
    """PKCS#8 PEM, encrypted with the best available scheme when a password is given."""
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def public_pem(key: PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def spki_der(key: PublicKey) -> bytes:
    """SubjectPublicKeyInfo DER."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(key: PublicKey) -> str:
    """Hex SHA-256 of the DER SubjectPublicKeyInfo: the key's stable identifier."""
    return hashlib.sha256(spki_der(key)).hexdigest()


def write_private(path: Path, data: bytes) -> None:
    """Write private key bytes with mode 0600 from creation on; never overwrite."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError("file-exists", f"{path}: already exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def _read(path: Path) -> bytes:
    try:
        if path.is_dir():
            raise InputError("is-a-directory", f"{path}: is a directory, expected a key file")
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError("file-not-found", f"{path}: no such key file") from None
    except PermissionError:
        raise EnvironmentFailure("permission-denied", f"{path}: permission denied") from None


def check_key_permissions(path: Path) -> None:
    """Refuse a private key file that group or others may read or write."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise EnvironmentFailure(
            "insecure-key-permissions",
            f"{path}: private key is accessible by others (mode {mode:04o})",
            hint=f"run: chmod 600 {path}",
        )


def _supported_private(key: object, path: Path) -> PrivateKey:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _CURVE_HASH:
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return key
    raise InputError("unsupported-key-type", f"{path}: unsupported private key type {type(key).__name__}")


def supported_public(key: object, where: str) -> PublicKey:
    """Return ``key`` when it is a public key type assay verifies with, else raise."""
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _CURVE_HASH:
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        return key
    raise InputError("unsupported-key-type", f"{where}: unsupported public key type {type(key).__name__}")


def load_private(path: Path, password: bytes | None) -> PrivateKey:
    """Load a PEM/DER private key after checking the file's permissions."""
    data = _read(path)
    if b"PUBLIC KEY" in data and b"PRIVATE KEY" not in data:
        raise InputError("public-key-given", f"{path}: is a public key; signing needs the private key")
    check_key_permissions(path)
    try:
        loader = (
            serialization.load_pem_private_key
            if data.lstrip().startswith(b"-----")
            else serialization.load_der_private_key
        )
        key = loader(data, password=password)
    except TypeError as exc:
        if "encrypted" in str(exc) and password is None:
            raise InputError(
                "key-password-required",
                f"{path}: private key is encrypted",
                hint="set ASSAY_PASSWORD or pass --password-file",
            ) from None
        raise InputError("key-not-encrypted", f"{path}: a password was given but the key is not encrypted") from None
    except ValueError as exc:
        if password is not None and ("password" in str(exc).lower() or "decrypt" in str(exc).lower()):
            raise InputError("key-password-wrong", f"{path}: wrong password for private key") from None
        raise InputError("malformed-key", f"{path}: not a readable private key") from None
    except UnsupportedAlgorithm:
        raise InputError("unsupported-key-type", f"{path}: unsupported key algorithm") from None
    return _supported_private(key, path)


def parse_public(data: bytes, where: str) -> PublicKey:
    """Parse a PEM or DER SubjectPublicKeyInfo; a private key or certificate is rejected."""
    if b"PRIVATE KEY" in data:
        raise InputError("private-key-given", f"{where}: is a private key; verification needs the public key")
    try:
        if data.lstrip().startswith(b"-----BEGIN CERTIFICATE"):
            from cryptography import x509

            key: object = x509.load_pem_x509_certificate(data).public_key()
        elif data.lstrip().startswith(b"-----"):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise InputError("malformed-key", f"{where}: not a readable public key") from None
    return supported_public(key, where)


def load_public(path: Path) -> PublicKey:
    """Load a public key from a PEM/DER file."""
    return parse_public(_read(path), str(path))


def read_public(path: Path) -> tuple[PublicKey, bytes]:
    """A public key and the exact bytes it was parsed from (one read: what was hashed is what is trusted)."""
    data = _read(path)
    return parse_public(data, str(path)), data


def key_type_name(key: PublicKey) -> str:
    """Human name of a public key's algorithm, e.g. ``ecdsa-p256``."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384", "secp521r1": "ecdsa-p521"}[key.curve.name]
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    return f"rsa-{key.key_size}"


def needs_message(key: PublicKey) -> bool:
    """True for keys (Ed25519) whose signatures cover the message, not a digest of it."""
    return isinstance(key, ed25519.Ed25519PublicKey)


def registry_digest(key: PublicKey) -> str:
    """The digest algorithm the Sigstore algorithm registry pairs with this key (sha256 for RSA and Ed25519)."""
    return hash_for(key).name


def allowed_digests(key: PublicKey) -> tuple[str, ...]:
    """Digest algorithms a signature by this key may be over, the registry's pairing first.

    ECDSA keys on the wider curves also sign SHA-256 digests: cosign, sigstore-python and
    the Sigstore clients before the algorithm registry hash with SHA-256 whatever the
    curve, and the reference verifiers accept it.
    Ed25519 signs sha256 or sha512 digests; RSA signs SHA-256.
    """
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ("sha256", "sha512")
    paired = registry_digest(key)
    if isinstance(key, ec.EllipticCurvePublicKey) and paired != "sha256":
        return (paired, "sha256")
    return (paired,)


def hash_named(name: str) -> hashes.HashAlgorithm:
    """A SHA-2 hash object by its name (``sha256``, ``sha384``, ``sha512``)."""
    table: dict[str, type[hashes.HashAlgorithm]] = {
        "sha256": hashes.SHA256,
        "sha384": hashes.SHA384,
        "sha512": hashes.SHA512,
    }
    if name not in table:
        raise InputError("unsupported-digest-algorithm", f"digest algorithm {name!r} is not supported")
    return table[name]()


def hash_for(key: PublicKey) -> hashes.HashAlgorithm:
    """The hash a key type signs with: by curve for ECDSA, SHA-256 for RSA."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _CURVE_HASH[key.curve.name]()
    return hashes.SHA256()


def verify_message(key: PublicKey, signature: bytes, message: bytes) -> bool:
    """Verify a signature over a whole message (any buffer, e.g. an mmap) with the key's fixed algorithm."""
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hash_for(key)))
        else:
            return _verify_rsa(key, signature, message, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _verify_rsa(
    key: rsa.RSAPublicKey, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm, *, prehashed: bool = False
) -> bool:
    """RSA PKCS#1 v1.5, else RSA-PSS (MGF1 with the same hash): both are in the Sigstore algorithm registry."""
    alg: hashes.HashAlgorithm | Prehashed = Prehashed(algorithm) if prehashed else algorithm
    for pad in (padding.PKCS1v15(), padding.PSS(padding.MGF1(algorithm), padding.PSS.AUTO)):
        try:
            key.verify(signature, data, pad, alg)
            return True
        except InvalidSignature:
            continue
    return False


def verify_prehashed(key: PublicKey, signature: bytes, digest: bytes, algorithm: hashes.HashAlgorithm) -> bool:
    """Verify a signature over a message given only its digest (ECDSA and RSA)."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        raise InputError(
            "digest-verification-unsupported",
            "Ed25519 signatures cover the whole message; give the file, not its digest",
        )
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(Prehashed(algorithm)))
        else:
            return _verify_rsa(key, signature, digest, algorithm, prehashed=True)
    except InvalidSignature:
        return False
    return True


def verify_message_with(key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes, algorithm: ec.ECDSA) -> bool:
    """Verify an ECDSA signature whose hash is fixed by the protocol rather than the curve."""
    try:
        key.verify(signature, message, algorithm)
    except InvalidSignature:
        return False
    return True
