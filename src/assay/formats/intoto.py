"""in-toto Statement v1 and the predicate type shorthands cosign users know."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from assay.errors import InputError
from assay.formats.encoding import load_json, obj

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"

PREDICATE_SHORTHANDS = {
    "slsaprovenance": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance02": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
    "slsavsa1": "https://slsa.dev/verification_summary/v1",
    "link": "https://in-toto.io/Link/v1",
    "spdx": "https://spdx.dev/Document",
    "spdxjson": "https://spdx.dev/Document",
    "cyclonedx": "https://cyclonedx.org/bom",
    "vuln": "https://in-toto.io/attestation/vulns/v0.2",
    "openvex": "https://openvex.dev/ns",
    "custom": "https://cosign.sigstore.dev/attestation/v1",
}


def predicate_type(value: str) -> str:
    """Expand a shorthand (``slsaprovenance1``) to its URI; a URI passes through."""
    if value in PREDICATE_SHORTHANDS:
        return PREDICATE_SHORTHANDS[value]
    if "://" not in value and ":" not in value:
        raise InputError(
            "unknown-predicate-type",
            f"{value!r} is neither a predicate type URI nor a known shorthand",
            hint=f"use a URI or one of {', '.join(sorted(PREDICATE_SHORTHANDS))}",
        )
    return value


@dataclass(frozen=True)
class Subject:
    """A statement subject: a name and its digests (algorithm -> lowercase hex)."""

    name: str
    digest: dict[str, str]


@dataclass(frozen=True)
class Statement:
    """A parsed in-toto statement."""

    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: Any

    def to_json_bytes(self) -> bytes:
        """Serialise as compact JSON (the DSSE payload)."""
        doc = {
            "_type": STATEMENT_V1,
            "subject": [{"name": s.name, "digest": dict(s.digest)} for s in self.subjects],
            "predicateType": self.predicate_type,
            "predicate": self.predicate,
        }
        return json.dumps(doc, separators=(",", ":"), sort_keys=False).encode()

    def matches_sha256(self, digest_hex: str) -> bool:
        """True when any subject carries this SHA-256 digest."""
        d = digest_hex.lower()
        return any(s.digest.get("sha256", "").lower() == d for s in self.subjects)


def parse_statement(payload: bytes) -> Statement:
    """Parse an in-toto Statement v1 (or v0.1) from a DSSE payload."""
    doc = obj(load_json(payload, "in-toto statement"), "in-toto statement")
    if doc.get("_type") not in (STATEMENT_V1, STATEMENT_V01):
        raise InputError("unknown-statement-type", f"in-toto statement has unsupported _type {doc.get('_type')!r}")
    subjects_raw = doc.get("subject")
    if not isinstance(subjects_raw, list) or not subjects_raw:
        raise InputError("statement-no-subject", "in-toto statement has no subject")
    subjects = []
    for i, s in enumerate(subjects_raw):
        s = obj(s, f"subject[{i}]")
        digest = obj(s.get("digest"), f"subject[{i}].digest")
        if not all(isinstance(v, str) for v in digest.values()):
            raise InputError("malformed-field", f"subject[{i}].digest: values must be strings")
        subjects.append(Subject(str(s.get("name", "")), {str(k): str(v) for k, v in digest.items()}))
    ptype = doc.get("predicateType")
    if not isinstance(ptype, str) or not ptype:
        raise InputError("statement-no-predicate-type", "in-toto statement has no predicateType")
    return Statement(tuple(subjects), ptype, doc.get("predicate"))
