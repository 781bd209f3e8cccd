"""PEP 740 attestation objects (PyPI's digital attestations) and provenance files, read as Sigstore bundles.

An attestation object carries the same material as a v0.3 DSSE bundle under
other names (``verification_material.certificate``,
``transparency_entries``, ``envelope.statement``/``signature``); converting it
loses nothing the verification pipeline checks. A provenance file (PyPI's
Integrity API) groups attestation objects by publisher.
"""

from __future__ import annotations

from typing import Any

from assay.errors import InputError
from assay.formats.bundle import MEDIA_TYPE_V03
from assay.formats.encoding import obj, string
from assay.formats.intoto import PAYLOAD_TYPE


def is_attestation(doc: object) -> bool:
    """True for a PEP 740 attestation object."""
    return isinstance(doc, dict) and "envelope" in doc and "verification_material" in doc


def is_provenance(doc: object) -> bool:
    """True for a PEP 740 provenance object (``attestation_bundles``)."""
    return isinstance(doc, dict) and "attestation_bundles" in doc


def _version(doc: dict[str, Any], what: str) -> None:
    if doc.get("version") != 1:
        raise InputError("pep740-unsupported-version", f"{what} has version {doc.get('version')!r}; only 1 is known")


def to_bundle(doc: object) -> dict[str, Any]:
    """The v0.3 bundle (JSON) equivalent to a PEP 740 attestation object."""
    att = obj(doc, "attestation")
    _version(att, "attestation")
    vm = obj(att.get("verification_material"), "verification_material")
    entries = vm.get("transparency_entries")
    if not isinstance(entries, list):
        raise InputError("malformed-field", "verification_material.transparency_entries: expected a list")
    env = obj(att.get("envelope"), "envelope")
    return {
        "mediaType": MEDIA_TYPE_V03,
        "verificationMaterial": {
            "certificate": {"rawBytes": string(vm.get("certificate"), "verification_material.certificate")},
            "tlogEntries": entries,
        },
        "dsseEnvelope": {
            "payload": string(env.get("statement"), "envelope.statement"),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": string(env.get("signature"), "envelope.signature")}],
        },
    }


def provenance_attestations(doc: object) -> list[dict[str, Any]]:
    """Every attestation object of a provenance file, in order."""
    prov = obj(doc, "provenance")
    _version(prov, "provenance")
    groups = prov.get("attestation_bundles")
    if not isinstance(groups, list):
        raise InputError("malformed-field", "attestation_bundles: expected a list")
    out: list[dict[str, Any]] = []
    for i, g in enumerate(groups):
        atts = obj(g, f"attestation_bundles[{i}]").get("attestations")
        if not isinstance(atts, list):
            raise InputError("malformed-field", f"attestation_bundles[{i}].attestations: expected a list")
        out += [obj(a, f"attestation_bundles[{i}].attestations[{j}]") for j, a in enumerate(atts)]
    return out


def bundles_in(doc: object) -> list[dict[str, Any]] | None:
    """Bundle JSON for a PEP 740 attestation or provenance document; None when ``doc`` is neither."""
    if is_attestation(doc):
        return [to_bundle(doc)]
    if is_provenance(doc):
        return [to_bundle(a) for a in provenance_attestations(doc)]
    return None
