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


@dataclass
class Verdict:
    """Who signed an item and what was learned verifying it."""

    signer: str
    issuer: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    log_entry: str | None = None
    time: int | None = None


def parse_identities(raw: object) -> list[IdentityPolicy]:
    """Identity policies from JSON ``[{"identity"|"identityRegExp", "issuer"|"issuerRegExp"}]``."""
    if not isinstance(raw, list):
        raise InputError("trust-malformed", "identities must be a list")
    out = []
    for i, d in enumerate(raw):
        if not isinstance(d, dict):
            raise InputError("trust-malformed", f"identities[{i}] must be an object")
        out.append(
            IdentityPolicy(
                identity=d.get("identity"),
                identity_regexp=d.get("identityRegExp"),
                issuer=d.get("issuer"),
                issuer_regexp=d.get("issuerRegExp"),
            )
        )
    return out


def parse_keys(raw: object) -> list[keys.PublicKey]:
    """Public keys from a JSON list of PEM strings."""
    if not isinstance(raw, list):
        raise InputError("trust-malformed", "keys must be a list of PEM public keys")
    return [keys.parse_public(str(k).encode(), f"keys[{i}]") for i, k in enumerate(raw)]


def _key_signer(key: keys.PublicKey) -> str:
    return "key:" + keys.key_id(key)


def _entry_of(result: Any) -> tuple[str | None, int | None]:
    if not result.tlog:
        return None, None
    first = result.tlog[0]
    return str(first.get("logIndex", "")), first.get("integratedTime")


def _bundle(item: Item, trust: Trust) -> Verdict:
    bundle = item.bundle
    assert bundle is not None
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
            entry, when = _entry_of(r)
            claims = {k: v for k, v in r.claims.items() if k not in ("subject", "issuer")}
            return Verdict(str(r.claims.get("subject")), r.claims.get("issuer"), claims, entry, when)
        assert last is not None
        raise last
    if not trust.keys:
        raise VerificationError("no-trusted-key", "the bundle names a key and the project trusts no keys")
    last = None
    for key in trust.keys:
        try:
            r = pipeline.verify(bundle, artifact, Policy(key=key), trust.root if _needs_root(item) else None)
        except AssayError as exc:
            last = exc
            continue
        entry, when = _entry_of(r)
        return Verdict(_key_signer(key), None, {}, entry, when)
    assert last is not None
    raise last


def _needs_root(item: Item) -> bool:
    b = item.bundle
    return b is not None and bool(b.certificates or b.tlog_entries or b.rfc3161_timestamps)


def _signature_ok(key: keys.PublicKey, sig: bytes, message: bytes) -> bool:
    if keys.needs_message(key):
        return keys.verify_message(key, sig, message)
    alg = keys.hash_for(key)
    return keys.verify_prehashed(key, sig, hashlib.new(alg.name, message).digest(), alg)


def _dsse(item: Item, trust: Trust) -> Verdict:
    env = item.envelope
    assert env is not None
    pae = env.pae()
    for key in trust.keys:
        if any(_signature_ok(key, s.sig, pae) for s in env.signatures):
            return Verdict(_key_signer(key))
    raise VerificationError("signature-mismatch", "no DSSE signature verifies with a key the project trusts")


def _link(item: Item, trust: Trust) -> Verdict:
    from securesystemslib.formats import encode_canonical
    from securesystemslib.signer import Signature, SSlibKey  # type: ignore[attr-defined]

    data = (encode_canonical(item.doc["signed"]) or "").encode()
    for key in trust.keys:
        ssl_key = SSlibKey.from_crypto(key)
        for raw in item.doc["signatures"]:
            if not isinstance(raw, dict) or not isinstance(raw.get("sig"), str):
                raise InputError("link-malformed", "a link signature must be an object with a hex sig")
            sig = Signature(ssl_key.keyid, raw["sig"])
            try:
                ssl_key.verify_signature(sig, data)
            except Exception:  # securesystemslib raises its own verification errors
                continue
            return Verdict(_key_signer(key))
    raise VerificationError("signature-mismatch", "no link signature verifies with a key the project trusts")


def verify_item(item: Item, trust: Trust) -> Verdict:
    """Verify one item against the project's trust; VerificationError/InputError with a reason otherwise."""
    if item.kind == "bundle":
        return _bundle(item, trust)
    if item.kind == "dsse":
        return _dsse(item, trust)
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
