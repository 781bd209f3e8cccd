"""cosign's tag layout: ``sha256-<hex>.sig`` manifests of simple-signing payload layers.

Each layer is a simple-signing JSON payload naming the image digest; the
signature over the payload bytes is in ``dev.cosignproject.cosign/signature``,
the certificate and chain (keyless) in ``dev.sigstore.cosign/certificate`` and
``/chain``, the Rekor entry (SET + body) in ``dev.sigstore.cosign/bundle``.
Reading turns a layer into a Sigstore bundle model whose artifact is the
payload, plus the digest the payload claims (checked by the caller).
"""

from __future__ import annotations

import base64
import json

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from assay.errors import InputError
from assay.formats.bundle import MEDIA_TYPE_V03, Bundle, MessageSignature, TlogEntry
from assay.oci.referrers import fallback_tag
from assay.oci.registry import OCI_MANIFEST, Registry, sha256_digest

PAYLOAD_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE = "dev.cosignproject.cosign/signature"
CERTIFICATE = "dev.sigstore.cosign/certificate"
CHAIN = "dev.sigstore.cosign/chain"
REKOR_BUNDLE = "dev.sigstore.cosign/bundle"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"


def sig_tag(digest: str) -> str:
    """``sha256-<hex>.sig``."""
    return fallback_tag(digest) + ".sig"


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
        doc = json.loads(payload_bytes)
        image = {k.lower(): v for k, v in doc["critical"]["image"].items()}
        value = image.get("docker-manifest-digest")
        return str(value) if isinstance(value, str) else None
    except (ValueError, KeyError, TypeError, AttributeError):
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


def attach(reg: Registry, repo: str, digest: str, payload_bytes: bytes, annotations: dict[str, str]) -> None:
    """Add a signature layer to the image's ``.sig`` manifest (created if absent)."""
    tag = sig_tag(digest)
    try:
        data, _, _ = reg.get_manifest(repo, tag)
        manifest = json.loads(data)
    except Exception:  # no signatures yet
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": None, "layers": []}
    layer_digest = reg.push_blob(repo, payload_bytes)
    layer = {"mediaType": PAYLOAD_TYPE, "digest": layer_digest, "size": len(payload_bytes), "annotations": annotations}
    manifest["layers"] = [
        x for x in manifest.get("layers", []) if x.get("annotations", {}).get(SIGNATURE) != annotations[SIGNATURE]
    ] + [layer]
    config = json.dumps(
        {
            "architecture": "",
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [layer_["digest"] for layer_ in manifest["layers"]]},
        }
    ).encode()
    manifest["config"] = {"mediaType": CONFIG_TYPE, "digest": reg.push_blob(repo, config), "size": len(config)}
    reg.put_manifest(repo, tag, json.dumps(manifest, separators=(",", ":")).encode(), OCI_MANIFEST)


def find(reg: Registry, repo: str, digest: str) -> list[tuple[bytes, dict[str, str]]]:
    """(payload, annotations) of every layer of the image's ``.sig`` manifest."""
    try:
        data, _, _ = reg.get_manifest(repo, sig_tag(digest))
    except Exception:  # no .sig tag
        return []
    out = []
    for layer in json.loads(data).get("layers", []):
        ann = layer.get("annotations") or {}
        if SIGNATURE in ann:
            out.append(
                (reg.get_blob(repo, layer["digest"], limit=1024 * 1024), {str(k): str(v) for k, v in ann.items()})
            )
    return out


def to_bundle(payload_bytes: bytes, annotations: dict[str, str]) -> Bundle:
    """A bundle model for one cosign signature layer (artifact = the payload)."""
    try:
        signature = base64.b64decode(annotations[SIGNATURE], validate=True)
    except (KeyError, ValueError):
        raise InputError("cosign-signature-malformed", "the layer's signature annotation is not base64") from None
    certs: tuple[bytes, ...] = ()
    if CERTIFICATE in annotations:
        try:
            cert = x509.load_pem_x509_certificate(annotations[CERTIFICATE].encode())
        except ValueError:
            raise InputError("cosign-certificate-malformed", "the layer's certificate annotation is not PEM") from None
        certs = (cert.public_bytes(serialization.Encoding.DER),)
    entries: tuple[TlogEntry, ...] = ()
    if REKOR_BUNDLE in annotations:
        try:
            rb = json.loads(annotations[REKOR_BUNDLE])
            body = base64.b64decode(rb["Payload"]["body"])
            kind = json.loads(body)
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
        except (ValueError, KeyError, TypeError):
            raise InputError("cosign-bundle-malformed", "the layer's Rekor bundle annotation is malformed") from None
    digest = bytes.fromhex(sha256_digest(payload_bytes).split(":", 1)[1])
    return Bundle(
        media_type=MEDIA_TYPE_V03,
        version=(0, 1),  # a promise without a proof, as cosign's legacy bundles carry
        certificates=certs,
        tlog_entries=entries,
        message_signature=MessageSignature(signature, "SHA2_256", digest),
    )
