"""Sigstore ``TrustedRoot`` (v0.1, v0.2) and ``ClientTrustConfig``: the trust material.

Every authority carries a validity window; a window without a start is
malformed (fail closed), a window without an end is open-ended, and both ends
are inclusive.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from assay.crypto.keys import PublicKey, supported_public
from assay.errors import InputError
from assay.formats.encoding import b64decode, load_json, obj, string

TRUSTED_ROOT_MEDIA_TYPES = (
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    "application/vnd.dev.sigstore.trustedroot.v0.1+json",
    "application/vnd.dev.sigstore.trustedroot+json;version=0.2",
    "application/vnd.dev.sigstore.trustedroot.v0.2+json",
)
CLIENT_TRUST_CONFIG_MEDIA_TYPES = ("application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",)


def _malformed(message: str) -> InputError:
    return InputError("trusted-root-malformed", message)


def parse_time(value: object, field_name: str) -> datetime:
    """RFC 3339 timestamp to an aware UTC datetime."""
    if not isinstance(value, str):
        raise _malformed(f"{field_name}: expected an RFC 3339 timestamp")
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise _malformed(f"{field_name}: invalid timestamp {value!r}") from None
    if t.tzinfo is None:
        raise _malformed(f"{field_name}: timestamp has no time zone")
    return t.astimezone(UTC)


@dataclass(frozen=True)
class ValidFor:
    """A closed time interval; ``end`` None means open-ended."""

    start: datetime
    end: datetime | None = None

    def contains(self, t: datetime) -> bool:
        """True when ``start <= t <= end``."""
        return self.start <= t and (self.end is None or t <= self.end)

    @classmethod
    def parse(cls, data: object, where: str) -> ValidFor:
        d = obj(data, where) if data is not None else None
        if d is None or "start" not in d:
            raise _malformed(f"{where}: validity window has no start")
        end = d.get("end")
        return cls(
            parse_time(d["start"], f"{where}.start"), parse_time(end, f"{where}.end") if end is not None else None
        )

    def to_json(self) -> dict[str, str]:
        out = {"start": _fmt(self.start)}
        if self.end is not None:
            out["end"] = _fmt(self.end)
        return out


def _fmt(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class LogAuthority:
    """A transparency log or CT log key."""

    log_id: bytes
    key: PublicKey
    key_details: str
    valid_for: ValidFor
    base_url: str = ""
    spki: bytes = b""


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA (Fulcio or TSA): its chain, issuing certificate first and root last."""

    chain: tuple[x509.Certificate, ...]
    valid_for: ValidFor
    uri: str = ""

    @property
    def root(self) -> x509.Certificate:
        return self.chain[-1]


@dataclass(frozen=True)
class TrustedRoot:
    """The parsed trust material."""

    media_type: str
    tlogs: tuple[LogAuthority, ...] = ()
    certificate_authorities: tuple[CertificateAuthority, ...] = ()
    ctlogs: tuple[LogAuthority, ...] = ()
    timestamp_authorities: tuple[CertificateAuthority, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def tlog(self, log_id: bytes) -> LogAuthority | None:
        """The transparency log with this log ID."""
        return next((t for t in self.tlogs if t.log_id == log_id), None)

    def ctlog(self, log_id: bytes) -> LogAuthority | None:
        """The CT log with this log ID."""
        return next((t for t in self.ctlogs if t.log_id == log_id), None)


def _parse_log(d: object, where: str) -> LogAuthority | None:
    e = obj(d, where)
    pk = obj(e.get("publicKey"), f"{where}.publicKey")
    valid = ValidFor.parse(pk.get("validFor"), f"{where}.publicKey.validFor")
    raw = b64decode(pk.get("rawBytes"), f"{where}.publicKey.rawBytes")
    details = str(pk.get("keyDetails", ""))
    try:
        loaded = serialization.load_der_public_key(raw)
    except UnsupportedAlgorithm:
        return None  # a well-formed key of an algorithm nobody here implements: it can never verify anything
    except (ValueError, TypeError):
        raise _malformed(f"{where}.publicKey: not a DER public key") from None
    try:
        key = supported_public(loaded, where)
    except InputError:
        return None  # an algorithm assay cannot use: this key can never verify anything
    log_id_obj = e.get("logId")
    log_id = (
        b64decode(obj(log_id_obj, f"{where}.logId").get("keyId"), f"{where}.logId.keyId")
        if log_id_obj is not None
        else hashlib.sha256(raw).digest()
    )
    return LogAuthority(log_id, key, details, valid, str(e.get("baseUrl", "")), raw)


def _parse_ca(d: object, where: str) -> CertificateAuthority:
    e = obj(d, where)
    chain_raw = obj(e.get("certChain"), f"{where}.certChain").get("certificates")
    if not isinstance(chain_raw, list) or not chain_raw:
        raise _malformed(f"{where}.certChain: no certificates")
    chain = []
    for i, c in enumerate(chain_raw):
        der = b64decode(obj(c, f"{where}.certChain[{i}]").get("rawBytes"), f"{where}.certChain[{i}].rawBytes")
        try:
            chain.append(x509.load_der_x509_certificate(der))
        except ValueError:
            raise _malformed(f"{where}.certChain[{i}]: not a DER certificate") from None
    return CertificateAuthority(
        tuple(chain), ValidFor.parse(e.get("validFor"), f"{where}.validFor"), str(e.get("uri", ""))
    )


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    v = doc.get(key, [])
    if not isinstance(v, list):
        raise _malformed(f"{key}: expected a list")
    return v


def parse_trusted_root(data: bytes | str | dict[str, Any]) -> TrustedRoot:
    """Parse a TrustedRoot, or the trustedRoot inside a ClientTrustConfig."""
    doc = obj(data if isinstance(data, dict) else load_json(data, "trusted root"), "trusted root")
    media_type = string(doc.get("mediaType"), "trusted root mediaType")
    if media_type in CLIENT_TRUST_CONFIG_MEDIA_TYPES:
        return parse_trusted_root(obj(doc.get("trustedRoot"), "trustedRoot"))
    if media_type not in TRUSTED_ROOT_MEDIA_TYPES:
        raise InputError("unknown-trusted-root-media-type", f"trusted root has unsupported mediaType {media_type!r}")
    tlogs = tuple(t for i, d in enumerate(_list(doc, "tlogs")) if (t := _parse_log(d, f"tlogs[{i}]")) is not None)
    ctlogs = tuple(t for i, d in enumerate(_list(doc, "ctlogs")) if (t := _parse_log(d, f"ctlogs[{i}]")) is not None)
    cas = tuple(
        _parse_ca(d, f"certificateAuthorities[{i}]") for i, d in enumerate(_list(doc, "certificateAuthorities"))
    )
    tsas = tuple(_parse_ca(d, f"timestampAuthorities[{i}]") for i, d in enumerate(_list(doc, "timestampAuthorities")))
    return TrustedRoot(media_type, tlogs, cas, ctlogs, tsas, doc)
