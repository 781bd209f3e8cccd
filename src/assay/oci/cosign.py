"""cosign's tag layout: ``sha256-<hex>.sig`` (signatures) and ``sha256-<hex>.att`` (attestations).

A ``.sig`` layer is a simple-signing JSON payload naming the image digest; the
signature over the payload bytes is in ``dev.cosignproject.cosign/signature``.
A ``.att`` layer is a DSSE envelope (the signature annotation is empty) with a
``predicateType`` annotation. Both carry the certificate and chain (keyless) in
``dev.sigstore.cosign/certificate`` and ``/chain`` and the Rekor entry (SET +
body) in ``dev.sigstore.cosign/bundle``. Reading turns a layer into a Sigstore
bundle model; for ``.sig`` the artifact is the payload, and the digest the
payload claims is checked by the caller.
"""

from __future__ import annotations

import base64
import json

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from assay.errors import AssayError, InputError
from assay.formats import safejson
from assay.formats.bundle import MEDIA_TYPE_V03, Bundle, MessageSignature, TlogEntry
from assay.formats.dsse import Envelope
from assay.oci.referrers import fallback_tag
from assay.oci.registry import sha256_digest
from assay.oci.store import OCI_MANIFEST, Store

PAYLOAD_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE = "dev.cosignproject.cosign/signature"
CERTIFICATE = "dev.sigstore.cosign/certificate"
CHAIN = "dev.sigstore.cosign/chain"
REKOR_BUNDLE = "dev.sigstore.cosign/bundle"
PREDICATE_TYPE = "predicateType"
DSSE_TYPE = "application/vnd.dsse.envelope.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"


def sig_tag(digest: str, suffix: str = "sig") -> str:
    """``sha256-<hex>.sig`` (or ``.att``)."""
    return fallback_tag(digest) + "." + suffix


def annotations_for(bundle: Bundle) -> dict[str, str]:
    """cosign's layer annotations for what a bundle carries (signature, certificate, chain, Rekor SET)."""
    sig = bundle.message_signature.signature if bundle.message_signature else b""
    out = {SIGNATURE: base64.b64encode(sig).decode()}
    if bundle.certificates:
        pems = [
            x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()
            for der in bundle.certificates
        ]
        out[CERTIFICATE] = pems[0]
        if len(pems) > 1:
            out[CHAIN] = "".join(pems[1:])
    for entry in bundle.tlog_entries:
        if entry.inclusion_promise is not None:
            out[REKOR_BUNDLE] = rekor_annotation(entry)
            break
    return out


def payload(reference: str, digest: str) -> bytes:
    """The simple-signing payload cosign signs for an image."""
    doc = {
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def claimed_digest(payload_bytes: bytes) -> str | None:
    """The image digest a payload names (``docker-manifest-digest`` matched in any case)."""
    try:
        doc = safejson.loads(payload_bytes, what="cosign payload")
        image = {k.lower(): v for k, v in doc["critical"]["image"].items()}
        value = image.get("docker-manifest-digest")
        return str(value) if isinstance(value, str) else None
    except (InputError, ValueError, KeyError, TypeError, AttributeError):
        return None


def rekor_annotation(entry: TlogEntry) -> str:
    """cosign's Rekor bundle annotation for a log entry."""
    assert entry.inclusion_promise is not None
    return json.dumps(
        {
            "SignedEntryTimestamp": base64.b64encode(entry.inclusion_promise).decode(),
            "Payload": {
                "body": base64.b64encode(entry.canonicalized_body).decode(),
                "integratedTime": entry.integrated_time,
                "logIndex": entry.log_index,
                "logID": entry.log_id.hex(),
            },
        }
    )


def attach(
    store: Store,
    repo: str,
    digest: str,
    blob: bytes,
    annotations: dict[str, str],
    suffix: str = "sig",
    layer_type: str = PAYLOAD_TYPE,
) -> None:
    """Add a layer to the image's ``.sig``/``.att`` manifest (created if absent); an identical layer is replaced."""
    tag = sig_tag(digest, suffix)
    try:
        data, _, _ = store.get_manifest(repo, tag)
        manifest = json.loads(data)
    except AssayError as exc:
        if exc.reason != "image-not-found":
            raise
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": None, "layers": []}
    layer_digest = store.push_blob(repo, blob)
    layer = {"mediaType": layer_type, "digest": layer_digest, "size": len(blob), "annotations": annotations}
    manifest["layers"] = [
        x
        for x in manifest.get("layers", [])
        if (x.get("digest"), x.get("annotations", {}).get(SIGNATURE)) != (layer_digest, annotations[SIGNATURE])
    ] + [layer]
    config = json.dumps(
        {
            "architecture": "",
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [layer_["digest"] for layer_ in manifest["layers"]]},
        }
    ).encode()
    manifest["config"] = {"mediaType": CONFIG_TYPE, "digest": store.push_blob(repo, config), "size": len(config)}
    store.put_manifest(repo, tag, json.dumps(manifest, separators=(",", ":")).encode(), OCI_MANIFEST)


def find(
    store: Store, repo: str, digest: str, suffix: str = "sig", tags: frozenset[str] | None = None
) -> list[tuple[bytes, dict[str, str], str]]:
    """(blob, annotations, layer media type) of every layer of the image's ``.sig``/``.att`` manifest
    (``tags``: the repository's tags just listed; a tag not among them is not fetched)."""
    if tags is not None and sig_tag(digest, suffix) not in tags:
        return []
    try:
        data, _, _ = store.get_manifest(repo, sig_tag(digest, suffix))
    except AssayError as exc:
        if exc.reason != "image-not-found":
            raise
        return []
    out = []
    for layer in json.loads(data).get("layers", []):
        ann = layer.get("annotations") or {}
        if SIGNATURE in ann:
            blob = store.get_blob(repo, layer["digest"], limit=4 * 1024 * 1024)
            out.append((blob, {str(k): str(v) for k, v in ann.items()}, str(layer.get("mediaType", ""))))
    return out


def to_bundle(payload_bytes: bytes, annotations: dict[str, str], layer_type: str = PAYLOAD_TYPE) -> Bundle:
    """A bundle model for one cosign layer: a message signature over the payload, or (``.att``) a DSSE envelope."""
    try:
        signature = base64.b64decode(annotations[SIGNATURE], validate=True)
    except (KeyError, ValueError):
        raise InputError("cosign-signature-malformed", "the layer's signature annotation is not base64") from None
    certs: tuple[bytes, ...] = ()
    if CERTIFICATE in annotations:
        try:
            pems = x509.load_pem_x509_certificates(
                (annotations[CERTIFICATE] + "\n" + annotations.get(CHAIN, "")).encode()
            )
        except ValueError:
            raise InputError("cosign-certificate-malformed", "the layer's certificate annotation is not PEM") from None
        certs = tuple(c.public_bytes(serialization.Encoding.DER) for c in pems)
    entries: tuple[TlogEntry, ...] = ()
    if REKOR_BUNDLE in annotations:
        try:
            rb = safejson.loads(annotations[REKOR_BUNDLE], what="Rekor bundle annotation")
            body = base64.b64decode(rb["Payload"]["body"])
            kind = safejson.loads(body, what="Rekor entry body")
            entries = (
                TlogEntry(
                    log_index=int(rb["Payload"]["logIndex"]),
                    log_id=bytes.fromhex(rb["Payload"]["logID"]),
                    kind=str(kind["kind"]),
                    version=str(kind["apiVersion"]),
                    integrated_time=int(rb["Payload"]["integratedTime"]),
                    canonicalized_body=body,
                    inclusion_promise=base64.b64decode(rb["SignedEntryTimestamp"]),
                ),
            )
        except (InputError, ValueError, KeyError, TypeError):
            raise InputError("cosign-bundle-malformed", "the layer's Rekor bundle annotation is malformed") from None
    if layer_type == DSSE_TYPE:
        try:
            envelope = Envelope.from_json(
                safejson.loads(payload_bytes, what="cosign attestation layer"), "cosign attestation layer"
            )
        except ValueError:
            raise InputError("dsse-malformed", "the attestation layer is not a DSSE envelope") from None
        return Bundle(
            media_type=MEDIA_TYPE_V03, version=(0, 1), certificates=certs, tlog_entries=entries, dsse_envelope=envelope
        )
    digest = bytes.fromhex(sha256_digest(payload_bytes).split(":", 1)[1])
    return Bundle(
        media_type=MEDIA_TYPE_V03,
        version=(0, 1),  # a promise without a proof, as cosign's legacy bundles carry
        certificates=certs,
        tlog_entries=entries,
        message_signature=MessageSignature(signature, "SHA2_256", digest),
    )
