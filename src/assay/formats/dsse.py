"""DSSE v1 envelopes and the pre-authentication encoding (PAE)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assay.errors import InputError
from assay.formats.encoding import b64decode, b64encode, obj, string


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSEv1 PAE: ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`` with ASCII decimal lengths."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    """One DSSE signature; ``keyid`` is an unauthenticated hint."""

    sig: bytes
    keyid: str = ""


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope."""

    payload: bytes
    payload_type: str
    signatures: tuple[Signature, ...] = field(default_factory=tuple)

    def pae(self) -> bytes:
        """The bytes the signatures cover."""
        return pae(self.payload_type, self.payload)

    def to_json(self) -> dict[str, Any]:
        """Envelope as JSON (protobuf field names, as in Sigstore bundles)."""
        return {
            "payload": b64encode(self.payload),
            "payloadType": self.payload_type,
            "signatures": [
                {"sig": b64encode(s.sig), **({"keyid": s.keyid} if s.keyid else {})} for s in self.signatures
            ],
        }

    @classmethod
    def from_json(cls, data: object, where: str = "dsseEnvelope") -> Envelope:
        """Parse an envelope; at least one signature is required."""
        d = obj(data, where)
        sigs = d.get("signatures")
        if not isinstance(sigs, list) or not sigs:
            raise InputError("dsse-no-signatures", f"{where}: envelope has no signatures")
        parsed = []
        for i, s in enumerate(sigs):
            s = obj(s, f"{where}.signatures[{i}]")
            parsed.append(Signature(b64decode(s.get("sig"), f"{where}.signatures[{i}].sig"), str(s.get("keyid") or "")))
        return cls(
            payload=b64decode(d.get("payload"), f"{where}.payload"),
            payload_type=string(d.get("payloadType"), f"{where}.payloadType"),
            signatures=tuple(parsed),
        )
