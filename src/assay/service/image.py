"""Image use cases: sign, attest, verify, list and copy images in a registry or an OCI layout.

Signatures are written in both layouts — OCI 1.1 referrers (Sigstore bundles,
with the tag-schema fallback index) and cosign's ``.sig``/``.att`` tags — and
read from both. Verification always resolves the image to a digest first and
only counts material bound to that digest.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import AssayError, InputError, VerificationError
from assay.formats import intoto
from assay.formats.bundle import Bundle, parse_bundle
from assay.formats.trustroot import TrustedRoot
from assay.oci import cosign
from assay.oci.referrers import (
    BUNDLE_ARTIFACT_TYPE,
    attach_bundle,
    find_bundles,
    referrer_descriptors,
    update_fallback_index,
)
from assay.oci.store import INDEX_TYPES, Store
from assay.oci.target import RegistryAuth, Target, open_target
from assay.verify import pipeline
from assay.verify.identity import IdentityPolicy
from assay.verify.model import Artifact, Result
from assay.verify.policy import Policy

if TYPE_CHECKING:
    from assay.service.crypt_images import DecryptedCheck


def _raw(digest: str) -> bytes:
    return bytes.fromhex(digest.split(":", 1)[1])


def _children(store: Store, repo: str, digest: str) -> list[tuple[str, str, int]]:
    """(digest, media type, size) of each platform manifest of an index."""
    data, _, _ = store.get_manifest(repo, digest)
    return [
        (str(m["digest"]), str(m.get("mediaType", "")), int(m.get("size", 0))) for m in json.loads(data)["manifests"]
    ]


def sign_image(
    image: str,
    *,
    key: str | None,
    token: str | None,
    server: str | None,
    password_file: str | None = None,
    auth: RegistryAuth | None = None,
    predicate: Any = None,
    predicate_type: str | None = None,
    recursive: bool = False,
) -> dict[str, Any]:
    """Resolve the image to a digest and sign it — the manifest digest, or (with a predicate)
    an in-toto statement about it. The bundle is attached as a referrer and in cosign's layout.
    With ``recursive``, each platform manifest of an index is signed too."""
    from assay.service.credentials import Credentials

    target = open_target(image, auth)
    digest, media_type, size = target.resolve()
    if target.digest is None:
        sys.stderr.write(f"warning: {image} is a mutable tag; signing its current digest {digest}\n")
    creds = Credentials.resolve(key, token, server, password_file)
    subjects = [(digest, media_type, size)]
    if recursive and media_type in INDEX_TYPES:
        subjects += _children(target.store, target.repository, digest)
    signed = []
    for d, mt, sz in subjects:
        signed.append(_sign_one(target, creds, {"mediaType": mt, "digest": d, "size": sz}, predicate, predicate_type))
    return {"image": target.pinned(digest), "digest": digest, "referrer": signed[0], "signed": len(signed)}


def _sign_one(target: Target, creds: Any, subject: dict[str, Any], predicate: Any, predicate_type: str | None) -> str:
    """Sign one manifest digest; returns the referrer artifact's digest."""
    from assay.sign import blob as sign_blob_mod

    store, repo, digest = target.store, target.repository, str(subject["digest"])
    if predicate_type is not None:
        ptype = intoto.predicate_type(predicate_type)
        bundle = creds.sign_statement(sign_blob_mod.make_statement(target.name, _raw(digest), ptype, predicate))
        assert bundle.dsse_envelope is not None
        envelope = json.dumps(bundle.dsse_envelope.to_json(), separators=(",", ":")).encode()
        ann = {**cosign.annotations_for(bundle), cosign.PREDICATE_TYPE: ptype}
        cosign.attach(store, repo, digest, envelope, ann, "att", cosign.DSSE_TYPE)
        return attach_bundle(store, repo, subject, bundle.to_bytes(), {"dev.sigstore.bundle.predicateType": ptype})
    bundle = creds.sign_digest(_raw(digest))
    body = cosign.payload(target.name, digest)
    layer_bundle = creds.sign_digest(hashlib.sha256(body).digest(), body)
    cosign.attach(store, repo, digest, body, cosign.annotations_for(layer_bundle))
    return attach_bundle(store, repo, subject, bundle.to_bytes())


# ---- reading what is attached ---------------------------------------------------------------


@dataclass
class Attached:
    """Everything attached to one digest, parsed, plus what was refused while collecting it."""

    candidates: list[tuple[Bundle, Artifact, str]] = field(default_factory=list)  # bundle, artifact, where
    rejected: list[AssayError] = field(default_factory=list)


ALL_LAYOUTS = ("referrer", "sig", "att")


def collect(
    store: Store, repo: str, digest: str, layouts: tuple[str, ...] = ALL_LAYOUTS, tags: frozenset[str] | None = None
) -> Attached:
    """Referrer bundles (artifact = manifest digest), ``.sig`` layers (artifact = payload), ``.att`` envelopes.

    ``tags``: the repository's tags when the caller has just listed them, so absent attachment tags cost no
    round trip."""
    out = Attached()
    image_artifact = Artifact(_raw(digest))
    if "referrer" in layouts:
        bundles, rejected = find_bundles(store, repo, digest, tags)
        out.rejected += rejected
        for raw in bundles:
            try:
                out.candidates.append((parse_bundle(raw), image_artifact, "referrer"))
            except AssayError as exc:
                out.rejected.append(exc)
    for body, ann, _ in cosign.find(store, repo, digest, "sig", tags) if "sig" in layouts else []:
        claimed = cosign.claimed_digest(body)
        if claimed is None or claimed.lower() != digest:
            out.rejected.append(
                VerificationError(
                    "payload-digest-mismatch",
                    f"a {cosign.sig_tag(digest)} layer signs {claimed or 'no image digest'}, not {digest}",
                    step="subject",
                )
            )
            continue
        try:
            out.candidates.append((cosign.to_bundle(body, ann), Artifact(hashlib.sha256(body).digest(), body), "sig"))
        except AssayError as exc:
            out.rejected.append(exc)
    for body, ann, layer_type in cosign.find(store, repo, digest, "att", tags) if "att" in layouts else []:
        try:
            out.candidates.append((cosign.to_bundle(body, ann, layer_type), image_artifact, "att"))
        except AssayError as exc:
            out.rejected.append(exc)
    return out


@dataclass(frozen=True)
class ImageVerifier:
    """Who must have signed: a public key or an identity policy, and the trust material."""

    key_path: str | None
    identity: IdentityPolicy | None
    trusted_root: str | None = None
    server: str | None = None

    def _trust(self, bundle: Bundle) -> TrustedRoot | None:
        from assay.clients.rekor import RekorClient
        from assay.formats.trustroot import parse_trusted_root
        from assay.service.blob import trust_for

        if self.server:
            return parse_trusted_root(RekorClient(self.server).trusted_root())
        return trust_for(bundle, self.trusted_root)

    def verify_stored(
        self, store: Store, repo: str, digest: str, name: str, predicate_type: str | None = None
    ) -> Result:
        """Referrers first; cosign's ``.sig``/``.att`` tag is read only when no referrer verifies
        (fewer round trips for the common case; the same answer as reading everything, and no
        referrer is verified twice)."""
        first = collect(store, repo, digest, ("referrer",))
        result, errors, tried = self._attempt(first.candidates, name, predicate_type, len(first.candidates))
        if result is not None:
            return result
        rest = collect(store, repo, digest, ("att",) if predicate_type else ("sig",))
        total = len(first.candidates) + len(rest.candidates)
        result, more, tried_more = self._attempt(rest.candidates, name, predicate_type, total)
        if result is not None:
            return result
        return self._fail(errors + more + first.rejected + rest.rejected, tried + tried_more, name, predicate_type)

    def verify(self, attached: Attached, name: str, predicate_type: str | None = None) -> Result:
        """The first attached bundle of the right kind that verifies; else the first reason it did not."""
        result, errors, tried = self._attempt(attached.candidates, name, predicate_type, len(attached.candidates))
        if result is not None:
            return result
        return self._fail(errors + attached.rejected, tried, name, predicate_type)

    def _attempt(
        self, candidates: list[tuple[Bundle, Artifact, str]], name: str, predicate_type: str | None, total: int
    ) -> tuple[Result | None, list[AssayError], int]:
        from assay.crypto import keys

        key = keys.load_public(Path(self.key_path)) if self.key_path else None
        ptype = intoto.predicate_type(predicate_type) if predicate_type else None
        errors: list[AssayError] = []
        tried = 0
        for bundle, artifact, where in candidates:
            if (bundle.dsse_envelope is not None) != (ptype is not None):
                continue  # signatures and attestations are verified by different commands
            tried += 1
            try:
                policy = Policy(
                    key=key,
                    identity=self.identity,
                    require_tlog=bool(self.server),
                    predicate_type=ptype,
                    expect_statement=ptype is not None,
                )
                result = pipeline.verify(bundle, artifact, policy, self._trust(bundle))
                result.notes.append(f"verified {name} ({where}; {total} bundle(s) attached)")
                return result, errors, tried
            except AssayError as exc:
                errors.append(exc)
        return None, errors, tried

    @staticmethod
    def _fail(errors: list[AssayError], tried: int, name: str, predicate_type: str | None) -> Result:
        if not errors:
            kind = f"attestation of type {intoto.predicate_type(predicate_type)}" if predicate_type else "signature"
            raise VerificationError("no-signatures", f"no {kind} is attached to {name}", step="material")
        first = errors[0]
        raise VerificationError(
            first.reason,
            f"none of the {tried} attached bundle(s) verifies {name}; first: {first.message}",
            step=first.step,
        )


def verify_image(
    image: str,
    verifier: ImageVerifier,
    *,
    auth: RegistryAuth | None = None,
    predicate_type: str | None = None,
    decrypted: DecryptedCheck | None = None,
) -> Result:
    """Verify that an attached signature (or attestation of ``predicate_type``) binds the image's digest.

    With ``decrypted``, the image — once its signature verified — is decrypted at the same pinned digest (nothing
    written) and the decrypted manifest's digest must be the expected one."""
    target = open_target(image, auth)
    digest, _, _ = target.resolve()
    name = target.pinned(digest)
    result = verifier.verify_stored(target.store, target.repository, digest, name, predicate_type)
    if decrypted is not None:
        _check_decrypted(result, target, digest, name, decrypted)
    return result


def _check_decrypted(result: Result, target: Target, digest: str, name: str, check: DecryptedCheck) -> None:
    got, layers = check.digest(target, digest)
    if got != check.expected:
        raise VerificationError(
            "decrypted-digest-mismatch",
            f"{name} decrypts to {got}, not the expected {check.expected}",
            step="decrypted-digest",
        )
    if layers == 0:
        detail = f"{got}: the image has no encrypted layers, so the decrypted image is the image itself"
    else:
        detail = f"{got}: {layers} encrypted layer(s) decrypted, each HMAC checked, its plaintext hashed"
    result.record("decrypted-digest", detail)
    result.decrypted_digest = got


def tree(image: str, *, auth: RegistryAuth | None = None) -> dict[str, Any]:
    """Everything attached to an image: where it is stored, its kind, signer and predicate type."""
    target = open_target(image, auth)
    digest, media_type, _ = target.resolve()
    attached = collect(target.store, target.repository, digest)
    items = []
    for b, _, where in attached.candidates:
        item: dict[str, Any] = {
            "layout": where,
            "kind": "attestation" if b.dsse_envelope else "signature",
            "signer": "certificate" if b.certificates else "key",
        }
        if b.dsse_envelope is not None:
            try:
                item["predicateType"] = intoto.parse_statement(b.dsse_envelope.payload).predicate_type
            except AssayError:
                item["predicateType"] = None
        item["tlogEntries"] = len(b.tlog_entries)
        items.append(item)
    items += [{"kind": "rejected", "reason": e.reason, "message": e.message} for e in attached.rejected]
    return {"image": target.pinned(digest), "mediaType": media_type, "attached": items}


# ---- SBOM attachment -------------------------------------------------------------------------


def sbom_predicate_type(doc: Any, path: str) -> str:
    """The attestation predicate type for an SBOM document (CycloneDX or SPDX JSON)."""
    if isinstance(doc, dict) and doc.get("bomFormat") == "CycloneDX":
        return "https://cyclonedx.org/bom"
    if isinstance(doc, dict) and str(doc.get("spdxVersion", "")).startswith("SPDX-"):
        return "https://spdx.dev/Document"
    raise InputError("sbom-unrecognised", f"{path} is neither a CycloneDX nor an SPDX JSON document")


# ---- copy / promotion ------------------------------------------------------------------------


def copy_image(
    src: str,
    dst: str,
    check: Callable[[Target, str, Attached], Any],
    *,
    auth: RegistryAuth | None = None,
) -> dict[str, Any]:
    """Copy an image with everything attached to it, only after ``check`` accepted the source digest.

    Order: resolve → verify (nothing written yet) → blobs → manifests by digest
    (children before indexes) → attached artifacts and their tags → the
    destination tag last, so a failure never leaves a tag on an unverified or
    incomplete image.
    """
    source = open_target(src, auth)
    dest = open_target(dst, auth, create=True)
    digest, media_type, _ = source.resolve()
    attached = collect(source.store, source.repository, digest)
    verdict = check(source, digest, attached)
    mover = _Mover(source, dest)
    mover.manifest(digest)
    for descriptor in referrer_descriptors(source.store, source.repository, digest):
        acknowledged = mover.manifest(str(descriptor["digest"]))
        if acknowledged != digest:
            update_fallback_index(dest.store, dest.repository, digest, descriptor)
    for suffix in ("sig", "att"):
        tag = cosign.sig_tag(digest, suffix)
        if _exists(source, tag):
            mover.manifest(tag, tag)
    if dest.digest is None:
        data, mt, _ = source.store.get_manifest(source.repository, digest)
        dest.store.put_manifest(dest.repository, dest.tag or source.tag or "latest", data, mt)
    elif dest.digest != digest:
        raise InputError("copy-digest-mismatch", f"{dst} names {dest.digest}, but {src} is {digest}")
    return {
        "source": source.pinned(digest),
        "destination": dest.pinned(digest) if dest.digest else dest.with_tag(dest.tag or source.tag or "latest"),
        "digest": digest,
        "mediaType": media_type,
        "blobs": mover.blobs,
        "manifests": mover.manifests,
        "mounted": mover.mounted,
        "verification": verdict,
    }


def _exists(target: Target, reference: str) -> bool:
    try:
        target.store.resolve(target.repository, reference)
    except AssayError as exc:
        if exc.reason != "image-not-found":
            raise
        return False
    return True


class _Mover:
    """Copies manifests and blobs between stores, streaming blobs through a temporary file."""

    def __init__(self, source: Target, dest: Target) -> None:
        self.source, self.dest = source, dest
        self.blobs = 0
        self.manifests = 0
        self.mounted = 0
        self._same_host = source.store.host == dest.store.host and source.repository != dest.repository
        self._done: set[str] = set()

    def blob(self, digest: str) -> None:
        import tempfile

        s, d = self.source, self.dest
        if digest in self._done or d.store.blob_exists(d.repository, digest):
            self._done.add(digest)
            return
        if self._same_host and d.store.mount_blob(d.repository, digest, s.repository):
            self.mounted += 1
        else:
            with tempfile.TemporaryFile() as spool:
                got = s.store.fetch_blob(s.repository, digest, spool)
                spool.seek(0)
                d.store.push_blob_chunks(d.repository, digest, got, iter(lambda: spool.read(8 * 1024 * 1024), b""))
            self.blobs += 1
        self._done.add(digest)

    def manifest(self, reference: str, tag: str | None = None) -> str | None:
        """Copy a manifest (and, first, everything it references) by digest, or under ``tag``;
        returns the ``OCI-Subject`` the destination acknowledged."""
        data, media_type, digest = self.source.store.get_manifest(self.source.repository, reference)
        doc = json.loads(data)
        if media_type in INDEX_TYPES:
            for m in doc.get("manifests", []):
                self.manifest(str(m["digest"]))
        else:
            for layer in [doc.get("config"), *doc.get("layers", [])]:
                if isinstance(layer, dict) and layer.get("digest"):
                    self.blob(str(layer["digest"]))
        acknowledged = self.dest.store.put_manifest(self.dest.repository, tag or digest, data, media_type)
        self.manifests += 1
        return acknowledged


def check_signatures(verifier: ImageVerifier) -> Callable[[Target, str, Attached], Any]:
    """A copy check that requires a verified signature."""

    def check(source: Target, digest: str, attached: Attached) -> Any:
        result = verifier.verify(attached, source.pinned(digest))
        return {"verified": True, "signer": result.signer}

    return check


__all__ = [
    "BUNDLE_ARTIFACT_TYPE",
    "Attached",
    "ImageVerifier",
    "check_signatures",
    "collect",
    "copy_image",
    "sbom_predicate_type",
    "sign_image",
    "tree",
    "verify_image",
]
