"""A project's trust (trusted root, keys, identities) and verifying one item against it (pure)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from assay.crypto import keys
from assay.errors import AssayError, InputError, VerificationError
from assay.evidence.parse import Item
from assay.formats.bundle import MEDIA_TYPE_V03, Bundle
from assay.formats.dsse import Envelope
from assay.formats.trustroot import TrustedRoot
from assay.verify import pipeline
from assay.verify.identity import IdentityPolicy
from assay.verify.model import Artifact
from assay.verify.policy import Policy

ANY_IDENTITY = IdentityPolicy(identity_regexp=".*", issuer_regexp=".*")


@dataclass
class Trust:
    """What a project trusts; no identities means any identity a trusted CA certified."""

    root: TrustedRoot | None
    keys: list[keys.PublicKey] = field(default_factory=list)
    identities: list[IdentityPolicy] = field(default_factory=list)
    retention_days: int | None = None  # how long unverified evidence is kept (None: forever)


_SEAL = object()  # only this module's verification functions hold it


@dataclass(frozen=True)
class Verdict:
    """Who signed an item and what was learned verifying it (made only by :func:`verify_item`)."""

    signer: str
    issuer: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    log_entry: str | None = None
    time: int | None = None
    seal: object = field(default=None, repr=False, compare=False)

    @property
    def sealed(self) -> bool:
        """True when the verdict came out of this module's verification pipeline."""
        return self.seal is _SEAL


IDENTITY_FIELDS = ("identity", "identityRegExp", "issuer", "issuerRegExp")
MAX_TRUST_ENTRIES = 256
MAX_FIELD_CHARS = 4096


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_FIELD_CHARS or not value.isprintable():
        raise InputError(
            "trust-malformed", f"{where} must be a non-empty printable string of at most {MAX_FIELD_CHARS} characters"
        )
    return value


def parse_identities(raw: object) -> list[IdentityPolicy]:
    """Identity policies from JSON ``[{"identity"|"identityRegExp", "issuer"|"issuerRegExp"}]``.

    Every field is typed: a string when present (never a number, list, object or null); unknown fields are
    refused rather than ignored, so a misspelt constraint cannot silently widen the trust.
    """
    if not isinstance(raw, list) or len(raw) > MAX_TRUST_ENTRIES:
        raise InputError("trust-malformed", f"identities must be a list of at most {MAX_TRUST_ENTRIES} objects")
    out = []
    for i, d in enumerate(raw):
        if not isinstance(d, dict):
            raise InputError("trust-malformed", f"identities[{i}] must be an object")
        unknown = sorted(set(d) - set(IDENTITY_FIELDS))
        if unknown:
            raise InputError("trust-malformed", f"identities[{i}]: unknown fields {unknown}")
        given = {k: _text(d[k], f"identities[{i}].{k}") for k in IDENTITY_FIELDS if k in d}
        out.append(
            IdentityPolicy(
                identity=given.get("identity"),
                identity_regexp=given.get("identityRegExp"),
                issuer=given.get("issuer"),
                issuer_regexp=given.get("issuerRegExp"),
            )
        )
    return out


def parse_keys(raw: object) -> list[keys.PublicKey]:
    """Public keys from a JSON list of PEM strings."""
    if not isinstance(raw, list) or len(raw) > MAX_TRUST_ENTRIES:
        raise InputError("trust-malformed", f"keys must be a list of at most {MAX_TRUST_ENTRIES} PEM public keys")
    out = []
    for i, k in enumerate(raw):
        if not isinstance(k, str) or not k:
            raise InputError("trust-malformed", f"keys[{i}] must be a PEM public key (a string)")
        out.append(keys.parse_public(k.encode(), f"keys[{i}]"))
    return out


def _key_signer(key: keys.PublicKey) -> str:
    return "key:" + keys.key_id(key)


def _entry_of(result: Any) -> tuple[str | None, int | None]:
    if not result.tlog:
        return None, None
    first = result.tlog[0]
    return str(first.get("logIndex", "")), first.get("integratedTime")


def _verdict(signer: str, issuer: str | None = None, claims: Any = None, result: Any = None) -> Verdict:
    entry, when = _entry_of(result) if result is not None else (None, None)
    return Verdict(signer, issuer, dict(claims or {}), entry, when, _SEAL)


def _bundle(bundle: Bundle, trust: Trust) -> Verdict:
    """verify-blob's pipeline, once per identity or key the project trusts; the signer is what verified."""
    artifact = None
    if bundle.message_signature is not None and bundle.message_signature.digest is not None:
        artifact = Artifact(bundle.message_signature.digest)
    if bundle.certificates:
        if trust.root is None:
            raise VerificationError("no-trusted-root", "the project has no trusted root for certificate bundles")
        last: AssayError | None = None
        for ident in trust.identities or [ANY_IDENTITY]:
            try:
                r = pipeline.verify(bundle, artifact, Policy(identity=ident), trust.root)
            except AssayError as exc:
                last = exc
                continue
            claims = {k: v for k, v in r.claims.items() if k not in ("subject", "issuer")}
            return _verdict(str(r.claims.get("subject")), r.claims.get("issuer"), claims, r)
        assert last is not None
        raise last
    if not trust.keys:
        raise VerificationError("no-trusted-key", "the bundle names a key and the project trusts no keys")
    root = trust.root if pipeline.needs_trust_root(bundle) else None
    last = None
    for key in trust.keys:
        try:
            r = pipeline.verify(bundle, artifact, Policy(key=key), root)
        except AssayError as exc:
            last = exc
            continue
        return _verdict(_key_signer(key), result=r)
    assert last is not None
    raise last


def _dsse(env: Envelope, trust: Trust) -> Verdict:
    """A bare envelope is a bundle without log entries: the same pipeline, keyed by each trusted key."""
    if not trust.keys:
        raise VerificationError("signature-mismatch", "no DSSE signature verifies: the project trusts no keys")
    try:
        return _bundle(Bundle(media_type=MEDIA_TYPE_V03, version=(0, 3), dsse_envelope=env), trust)
    except VerificationError as exc:
        if exc.reason != "signature-mismatch":
            raise
        raise VerificationError(
            "signature-mismatch", "no DSSE signature verifies with a key the project trusts", step=exc.step
        ) from None


def _link(item: Item, trust: Trust) -> Verdict:
    """A legacy link Metablock, checked by the layout verifier's functionary check (``verify-layout``'s code)."""
    from assay.layout.envelope import key_dict_from_public, parse_signed
    from assay.layout.functionary import signed_by

    sd = parse_signed(item.raw, "link")
    for key in trust.keys:
        ok, _ = signed_by(sd, key_dict_from_public(key), None)
        if ok:
            return _verdict(_key_signer(key))
    raise VerificationError("signature-mismatch", "no link signature verifies with a key the project trusts")


def verify_item(item: Item, trust: Trust) -> Verdict:
    """Verify one item against the project's trust; VerificationError/InputError with a reason otherwise.

    This is the only place a :class:`Verdict` is made: every path that stores evidence as verified (uploads,
    the log's DSSE entries, image attachments, the repository's VSAs) calls it.
    """
    if item.kind == "bundle":
        assert item.bundle is not None
        return _bundle(item.bundle, trust)
    if item.kind == "dsse":
        assert item.envelope is not None
        return _dsse(item.envelope, trust)
    return _link(item, trust)


def key_fingerprint(pem_or_der: bytes) -> str | None:
    """``sha256`` hex of the SubjectPublicKeyInfo of a PEM public key or certificate (None if unreadable)."""
    try:
        if b"BEGIN CERTIFICATE" in pem_or_der:
            pub: Any = x509.load_pem_x509_certificate(pem_or_der).public_key()
        elif b"BEGIN" in pem_or_der:
            pub = serialization.load_pem_public_key(pem_or_der)
        else:
            try:
                pub = x509.load_der_x509_certificate(pem_or_der).public_key()
            except ValueError:
                pub = serialization.load_der_public_key(pem_or_der)
        spki = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, TypeError):
        return None
    return hashlib.sha256(spki).hexdigest()


def certificate_emails(pem: bytes) -> list[str]:
    """Email SANs of a PEM certificate (lowercased); empty for keys."""
    if b"BEGIN CERTIFICATE" not in pem:
        return []
    try:
        cert = x509.load_pem_x509_certificate(pem)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return []
    return [e.lower() for e in san.get_values_for_type(x509.RFC822Name)]


def b64(data: bytes) -> str:
    """Base64 text."""
    return base64.b64encode(data).decode()
