"""OpenPGP detached-signature verification, by driving ``gpg`` in a private home.

Owns: checking that a detached signature over a file was made by a key from
the given key file (and, when pinned, by the key with the given fingerprint).
May import: ``errors``; uses python-gnupg and the ``gpg`` binary.
Invariants: the user's keyrings and trust database are never consulted — trust
comes only from the key file (and the pinned fingerprint) on the command line;
the temporary home is removed afterwards.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from assay.errors import EnvironmentFailure, InputError, VerificationError


@dataclass(frozen=True)
class PgpResult:
    """A verified OpenPGP signature."""

    fingerprint: str
    primary_fingerprint: str
    user_id: str
    timestamp: int


def normalise_fingerprint(value: str) -> str:
    """Upper-case hex without spaces or a ``0x`` prefix."""
    v = value.replace(" ", "").replace(":", "").upper()
    v = v.removeprefix("0X")
    if len(v) not in (40, 64) or any(c not in "0123456789ABCDEF" for c in v):
        raise InputError("pgp-bad-fingerprint", f"{value!r} is not a full OpenPGP v4/v5 fingerprint")
    return v


def _read(path: Path, what: str) -> bytes:
    if path.is_dir():
        raise InputError("is-a-directory", f"{path}: is a directory, expected a {what}")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError("file-not-found", f"{path}: no such {what}") from None
    except PermissionError:
        raise EnvironmentFailure("permission-denied", f"{path}: permission denied") from None


def verify(file: Path, signature: Path, key_file: Path, fingerprint: str | None = None) -> PgpResult:
    """Verify ``signature`` over ``file`` with the key(s) in ``key_file``."""
    import gnupg

    pinned = normalise_fingerprint(fingerprint) if fingerprint else None
    key_data = _read(key_file, "key file")
    _read(signature, "signature")
    if not file.exists():
        raise InputError("file-not-found", f"{file}: no such file")
    if shutil.which("gpg") is None:
        raise EnvironmentFailure("gpg-missing", "gpg is not installed", hint="apt-get install gnupg")
    home = tempfile.mkdtemp(prefix="assay-gpg-")
    try:
        gpg = gnupg.GPG(gnupghome=home)
        imported = gpg.import_keys(key_data)
        primaries = {f.upper() for f in imported.fingerprints if f}
        if not primaries:
            raise InputError("pgp-malformed-key", f"{key_file}: no OpenPGP public key found")
        if int(getattr(imported, "sec_read", 0) or 0) > 0:
            raise InputError("private-key-given", f"{key_file}: holds a secret key; give the public key")
        if pinned and pinned not in primaries:
            raise VerificationError(
                "pgp-fingerprint-mismatch",
                f"{key_file}: holds no key with fingerprint {pinned} (found {', '.join(sorted(primaries))})",
                step="key",
            )
        with signature.open("rb") as sig:
            v = gpg.verify_file(sig, data_filename=str(file))
        return _interpret(v, pinned)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _interpret(v: object, pinned: str | None) -> PgpResult:
    status = str(getattr(v, "status", "") or "")
    problems = {str(p.get("status", "")) for p in (getattr(v, "problems", None) or [])}
    if getattr(v, "valid", False):
        primary = str(getattr(v, "pubkey_fingerprint", "") or getattr(v, "fingerprint", "")).upper()
        if pinned and primary != pinned:
            raise VerificationError(
                "pgp-untrusted-key",
                f"signature made by {primary}, but {pinned} is the pinned key",
                step="key",
            )
        return PgpResult(
            str(getattr(v, "fingerprint", "")).upper(),
            primary,
            str(getattr(v, "username", "") or ""),
            int(getattr(v, "sig_timestamp", 0) or 0),
        )
    if status == "no public key" or "no public key" in problems:
        raise VerificationError(
            "pgp-unknown-key",
            f"the signature was made by key {getattr(v, 'key_id', '?')}, which is not in the key file",
            step="key",
        )
    if "expired" in status or any("expired" in p for p in problems):
        raise VerificationError("pgp-key-expired", f"the signing key or signature has expired ({status})", step="key")
    if "revoked" in status or any("revoked" in p for p in problems):
        raise VerificationError("pgp-key-revoked", f"the signing key has been revoked ({status})", step="key")
    if status == "signature bad" or "signature bad" in problems:
        raise VerificationError("pgp-signature-mismatch", "the signature does not match the file", step="signature")
    if status in ("", "no signature", "no data", "signature expected but not found") or "NODATA" in str(
        getattr(v, "stderr", "")
    ):
        raise InputError("pgp-malformed-signature", "not a readable OpenPGP detached signature")
    raise VerificationError("pgp-verification-failed", f"gpg rejected the signature: {status}", step="signature")
