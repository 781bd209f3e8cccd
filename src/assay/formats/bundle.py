"""Sigstore bundles v0.1–v0.3: parse (fail closed) and serialise (v0.3).

The model keeps bytes decoded and integers parsed so the verification pipeline
never touches JSON. Which proofs a bundle version requires is checked here;
whether they are *valid* is the pipeline's job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from assay.errors import InputError
from assay.formats.dsse import Envelope
from assay.formats.encoding import MAX_UNIX_SECONDS, as_int, b64decode, b64encode, load_json, obj, string

MEDIA_TYPE_V01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"
MEDIA_TYPE_V02 = "application/vnd.dev.sigstore.bundle+json;version=0.2"
MEDIA_TYPE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
MEDIA_TYPES = {
    MEDIA_TYPE_V01: (0, 1),
    MEDIA_TYPE_V02: (0, 2),
    "application/vnd.dev.sigstore.bundle+json;version=0.3": (0, 3),
    MEDIA_TYPE_V03: (0, 3),
}
HASH_ALGORITHMS = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}


@dataclass(frozen=True)
class MessageSignature:
    """A signature over an artifact; the digest is an unauthenticated hint."""

    signature: bytes
    digest_algorithm: str | None = None
    digest: bytes | None = None


@dataclass(frozen=True)
class InclusionProof:
    """An RFC 6962 audit path plus the checkpoint (signed note) it leads to."""

    log_index: int
    root_hash: bytes
    tree_size: int
    hashes: tuple[bytes, ...]
    checkpoint: str | None


@dataclass(frozen=True)
class TlogEntry:
    """A transparency log entry as carried in a bundle."""

    log_index: int
    log_id: bytes
    kind: str
    version: str
    integrated_time: int
    canonicalized_body: bytes
    inclusion_promise: bytes | None = None
    inclusion_proof: InclusionProof | None = None

    def to_json(self) -> dict[str, Any]:
        """Protobuf-JSON form for a bundle."""
        out: dict[str, Any] = {
            "logIndex": str(self.log_index),
            "logId": {"keyId": b64encode(self.log_id)},
            "kindVersion": {"kind": self.kind, "version": self.version},
            "integratedTime": str(self.integrated_time),
        }
        if self.inclusion_promise is not None:
            out["inclusionPromise"] = {"signedEntryTimestamp": b64encode(self.inclusion_promise)}
        if self.inclusion_proof is not None:
            p = self.inclusion_proof
            out["inclusionProof"] = {
                "logIndex": str(p.log_index),
                "rootHash": b64encode(p.root_hash),
                "treeSize": str(p.tree_size),
                "hashes": [b64encode(h) for h in p.hashes],
                **({"checkpoint": {"envelope": p.checkpoint}} if p.checkpoint is not None else {}),
            }
        out["canonicalizedBody"] = b64encode(self.canonicalized_body)
        return out


@dataclass(frozen=True)
class Bundle:
    """A parsed Sigstore bundle."""

    media_type: str
    version: tuple[int, int]
    certificates: tuple[bytes, ...] = ()
    public_key_hint: str | None = None
    tlog_entries: tuple[TlogEntry, ...] = ()
    rfc3161_timestamps: tuple[bytes, ...] = ()
    message_signature: MessageSignature | None = None
    dsse_envelope: Envelope | None = None
    single_certificate: bool = field(default=False, compare=False)

    @property
    def uses_public_key(self) -> bool:
        """True when the bundle names a managed key rather than carrying a certificate."""
        return not self.certificates

    def to_json(self) -> dict[str, Any]:
        """Serialise as a v0.3 bundle (``certificate`` or ``publicKey`` material)."""
        vm: dict[str, Any] = {}
        if self.certificates:
            vm["certificate"] = {"rawBytes": b64encode(self.certificates[0])}
        else:
            vm["publicKey"] = {"hint": self.public_key_hint or ""}
        vm["tlogEntries"] = [e.to_json() for e in self.tlog_entries]
        if self.rfc3161_timestamps:
            vm["timestampVerificationData"] = {
                "rfc3161Timestamps": [{"signedTimestamp": b64encode(t)} for t in self.rfc3161_timestamps]
            }
        out: dict[str, Any] = {"mediaType": MEDIA_TYPE_V03, "verificationMaterial": vm}
        if self.message_signature is not None:
            ms = self.message_signature
            content: dict[str, Any] = {}
            if ms.digest is not None:
                content["messageDigest"] = {
                    "algorithm": ms.digest_algorithm or "SHA2_256",
                    "digest": b64encode(ms.digest),
                }
            content["signature"] = b64encode(ms.signature)
            out["messageSignature"] = content
        elif self.dsse_envelope is not None:
            out["dsseEnvelope"] = self.dsse_envelope.to_json()
        return out

    def to_bytes(self) -> bytes:
        """Serialised JSON bytes, newline-terminated."""
        return json.dumps(self.to_json(), indent=2).encode() + b"\n"


def _parse_proof(d: dict[str, Any], where: str) -> InclusionProof:
    hashes = d.get("hashes", [])
    if not isinstance(hashes, list):
        raise InputError("malformed-field", f"{where}.hashes: expected a list")
    cp = d.get("checkpoint")
    envelope = None
    if cp is not None:
        envelope = string(obj(cp, f"{where}.checkpoint").get("envelope"), f"{where}.checkpoint.envelope")
    return InclusionProof(
        log_index=as_int(d.get("logIndex"), f"{where}.logIndex"),
        root_hash=b64decode(d.get("rootHash"), f"{where}.rootHash"),
        tree_size=as_int(d.get("treeSize"), f"{where}.treeSize"),
        hashes=tuple(b64decode(h, f"{where}.hashes[{i}]") for i, h in enumerate(hashes)),
        checkpoint=envelope,
    )


def _parse_entry(d: object, i: int) -> TlogEntry:
    where = f"tlogEntries[{i}]"
    e = obj(d, where)
    kv = obj(e.get("kindVersion"), f"{where}.kindVersion")
    promise = e.get("inclusionPromise")
    proof = e.get("inclusionProof")
    return TlogEntry(
        log_index=as_int(e.get("logIndex", 0), f"{where}.logIndex"),
        log_id=b64decode(obj(e.get("logId"), f"{where}.logId").get("keyId"), f"{where}.logId.keyId"),
        kind=string(kv.get("kind"), f"{where}.kindVersion.kind"),
        version=string(kv.get("version"), f"{where}.kindVersion.version"),
        integrated_time=as_int(e.get("integratedTime", 0), f"{where}.integratedTime", maximum=MAX_UNIX_SECONDS),
        canonicalized_body=b64decode(e.get("canonicalizedBody"), f"{where}.canonicalizedBody"),
        inclusion_promise=(
            b64decode(
                obj(promise, f"{where}.inclusionPromise").get("signedEntryTimestamp"),
                f"{where}.inclusionPromise.signedEntryTimestamp",
            )
            if promise is not None
            else None
        ),
        inclusion_proof=_parse_proof(obj(proof, f"{where}.inclusionProof"), f"{where}.inclusionProof")
        if proof is not None
        else None,
    )


def _parse_material(vm: dict[str, Any], version: tuple[int, int]) -> tuple[tuple[bytes, ...], str | None, bool]:
    kinds = [k for k in ("publicKey", "x509CertificateChain", "certificate") if k in vm]
    if len(kinds) != 1:
        raise InputError(
            "bundle-missing-material",
            "verificationMaterial must hold exactly one of publicKey, x509CertificateChain, certificate",
        )
    kind = kinds[0]
    if kind == "x509CertificateChain" and version >= (0, 3):
        raise InputError(
            "bundle-v03-certificate-chain",
            "a v0.3 bundle must carry its signing certificate as a single `certificate`, not an x509CertificateChain",
        )

    if kind == "publicKey":
        hint = obj(vm["publicKey"], "publicKey").get("hint")
        return (), (str(hint) if hint is not None else None), False
    if kind == "certificate":
        raw = b64decode(obj(vm["certificate"], "certificate").get("rawBytes"), "certificate.rawBytes")
        if not raw:
            raise InputError("bundle-empty-certificate", "certificate.rawBytes is empty")
        return (raw,), None, True
    certs = obj(vm["x509CertificateChain"], "x509CertificateChain").get("certificates")
    if not isinstance(certs, list) or not certs:
        raise InputError("bundle-empty-certificate-chain", "x509CertificateChain has no certificates")
    chain = tuple(
        b64decode(obj(c, f"certificates[{i}]").get("rawBytes"), f"x509CertificateChain.certificates[{i}].rawBytes")
        for i, c in enumerate(certs)
    )
    if any(not c for c in chain):
        raise InputError("bundle-empty-certificate", "x509CertificateChain holds an empty certificate")
    return chain, None, False


def parse_bundle(data: bytes | str | dict[str, Any]) -> Bundle:
    """Parse and structurally check a Sigstore bundle."""
    doc = obj(data if isinstance(data, dict) else load_json(data, "bundle"), "bundle")
    media_type = doc.get("mediaType")
    if not isinstance(media_type, str) or media_type not in MEDIA_TYPES:
        raise InputError("unknown-bundle-media-type", f"bundle has unsupported mediaType {media_type!r}")
    version = MEDIA_TYPES[media_type]
    vm = obj(doc.get("verificationMaterial"), "verificationMaterial")
    certs, hint, single = _parse_material(vm, version)
    entries_raw = vm.get("tlogEntries", [])
    if not isinstance(entries_raw, list):
        raise InputError("malformed-field", "tlogEntries: expected a list")
    entries = tuple(_parse_entry(e, i) for i, e in enumerate(entries_raw))
    tsd = vm.get("timestampVerificationData")
    stamps: tuple[bytes, ...] = ()
    if tsd is not None:
        raw = obj(tsd, "timestampVerificationData").get("rfc3161Timestamps", [])
        if not isinstance(raw, list):
            raise InputError("malformed-field", "rfc3161Timestamps: expected a list")
        stamps = tuple(
            b64decode(
                obj(t, f"rfc3161Timestamps[{i}]").get("signedTimestamp"), f"rfc3161Timestamps[{i}].signedTimestamp"
            )
            for i, t in enumerate(raw)
        )
    has_ms, has_dsse = "messageSignature" in doc, "dsseEnvelope" in doc
    if has_ms == has_dsse:
        raise InputError("bundle-missing-content", "bundle must hold exactly one of messageSignature, dsseEnvelope")
    ms = None
    env = None
    if has_ms:
        m = obj(doc["messageSignature"], "messageSignature")
        md = m.get("messageDigest")
        alg = digest = None
        if md is not None:
            md = obj(md, "messageSignature.messageDigest")
            alg = string(md.get("algorithm"), "messageDigest.algorithm")
            if alg not in HASH_ALGORITHMS:
                raise InputError("unsupported-digest-algorithm", f"messageDigest.algorithm {alg!r} is not supported")
            digest = b64decode(md.get("digest"), "messageDigest.digest")
        sig = b64decode(m.get("signature"), "messageSignature.signature")
        if not sig:
            raise InputError("empty-signature", "messageSignature.signature is empty")
        ms = MessageSignature(sig, alg, digest)
    else:
        env = Envelope.from_json(doc["dsseEnvelope"])
        if len(env.signatures) != 1:
            raise InputError(
                "bundle-dsse-signature-count",
                f"a bundle's DSSE envelope must carry exactly one signature, not {len(env.signatures)}",
            )
    bundle = Bundle(media_type, version, certs, hint, entries, stamps, ms, env, single)
    _check_version_rules(bundle)
    return bundle


def _check_version_rules(b: Bundle) -> None:
    """Requirements that depend on the bundle version (fail closed)."""
    if b.certificates or b.tlog_entries:
        if b.version == (0, 1):
            for e in b.tlog_entries:
                if e.inclusion_promise is None:
                    raise InputError("bundle-missing-inclusion-promise", "v0.1 bundles require an inclusion promise")
        elif b.version >= (0, 2):
            for e in b.tlog_entries:
                if e.inclusion_proof is None:
                    raise InputError(
                        "bundle-missing-inclusion-proof", f"v0.{b.version[1]} bundles require an inclusion proof"
                    )
