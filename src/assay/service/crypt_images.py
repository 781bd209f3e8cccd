"""Use cases for encrypted images: encrypt, decrypt and re-wrap layers of registry images and ``oci:`` layouts.

Layers stream from the source store through the layer cipher into a temporary spool and from there to the
destination; a decrypted layer reaches the destination only after its HMAC and plaintext digest checked out.
Manifests are written children first and the destination tag last, so a failure leaves no tag behind. A
manifest nothing was done to keeps its bytes (and so its digest and signatures). Without a destination ("digest
only") the decrypt job writes nothing: each encrypted layer is decrypted streaming and checked, and only the
decrypted manifests are computed, by the same code that builds the ones ``decrypt`` writes.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from assay.crypt import jwe, ocicrypt
from assay.errors import AssayError, InputError
from assay.oci.store import INDEX_TYPES, RegistryAuth
from assay.oci.target import Target, open_target
from assay.service.io import read_file
from assay.service.platform import Evidence

SPOOL_READ = 8 * 1024 * 1024
LAYER_TYPES = ("application/vnd.oci.image.layer.v1.tar", "application/vnd.docker.image.rootfs.diff.tar")


def load_public(spec: str) -> jwe.PublicKey:
    """A ``jwe:PUB.pem`` recipient: an RSA or EC (P-256/384/521) SPKI public key in PEM or DER."""
    if not spec.startswith("jwe:"):
        raise InputError("bad-recipient", f"{spec!r}: image recipients are jwe:PUBLIC-KEY.pem")
    data = read_file(spec[4:], "public key")
    try:
        key = (
            serialization.load_pem_public_key(data)
            if b"-----BEGIN" in data
            else serialization.load_der_public_key(data)
        )
    except ValueError:
        raise InputError("bad-recipient", f"{spec[4:]}: not a PEM or DER public key") from None
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise InputError("bad-recipient", f"{spec[4:]}: JWE recipients are RSA or EC keys")
    return key


def load_private(path: str) -> jwe.PrivateKey:
    """An RSA or EC private key (PKCS#8 or traditional PEM, or DER), unencrypted."""
    data = read_file(path, "private key")
    try:
        key = (
            serialization.load_pem_private_key(data, None)
            if b"-----BEGIN" in data
            else serialization.load_der_private_key(data, None)
        )
    except (ValueError, TypeError):
        raise InputError("bad-key", f"{path}: not an unencrypted PEM or DER private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise InputError("bad-key", f"{path}: JWE keys are RSA or EC keys")
    return key


def _through(src: BinaryIO, cipher: ocicrypt.LayerEncryptor | ocicrypt.LayerDecryptor) -> None:
    src.seek(0)
    while chunk := src.read(SPOOL_READ):
        cipher.write(chunk)


@dataclass
class _Job:
    source: Target
    dest: Target | None  # None: digest only (decrypt computes the decrypted manifests and writes nothing)
    recipients: Sequence[jwe.PublicKey] = ()
    keys: Sequence[jwe.PrivateKey] = ()
    layers: set[int] | None = None
    brokers: Sequence[str] = ()  # broker:URL/PROJECT/KEY recipients (wrapped through the assay key provider)
    evidence: Evidence | str | None = None  # what the platform shows a broker (a bare string: its token)
    pinned: Sequence[str] = ()  # the brokers that token may be shown to
    platforms: set[str] | None = None  # os/arch[/variant] of an index's manifests to encrypt (None: all)
    rewrap: Callable[[bytes], bytes] | None = None  # re-wraps one assay key-provider annotation (broker rewrap)
    report: dict[str, int] = field(
        default_factory=lambda: {"encrypted": 0, "decrypted": 0, "rewrapped": 0, "copied": 0}
    )

    @property
    def out(self) -> Target:
        assert self.dest is not None, "only the decrypt job runs without a destination"
        return self.dest

    def copy_blob(self, digest: str) -> None:
        if self.dest is None:
            return  # digest only: an unchanged blob is named by the manifest as it is
        s, d = self.source, self.dest
        if d.store.blob_exists(d.repository, digest):
            return
        if s.store.host == d.store.host and d.store.mount_blob(d.repository, digest, s.repository):
            return
        with tempfile.TemporaryFile() as spool:
            got = s.store.fetch_blob(s.repository, digest, spool)
            self._push(spool, digest, got)

    def _push(self, spool: BinaryIO, digest: str, size: int) -> None:
        spool.seek(0)
        self.out.store.push_blob_chunks(self.out.repository, digest, size, iter(lambda: spool.read(SPOOL_READ), b""))

    def encrypt_layer(self, desc: dict[str, Any]) -> dict[str, Any]:
        if ocicrypt.is_encrypted(desc):
            if not self.keys:
                raise InputError("layer-already-encrypted", "to re-wrap encrypted layers give --key PRIVATE-KEY")
            key = self.unwrap(desc)
            mac = ocicrypt.public_hmac(desc)
            self.copy_blob(str(desc["digest"]))
            self.report["rewrapped"] += 1
            ann = {k: v for k, v in (desc.get("annotations") or {}).items() if not k.startswith(ocicrypt.KEYS_PREFIX)}
            return {**desc, "annotations": {**ann, **self.annotations(key, mac)}}
        if not str(desc.get("mediaType", "")).startswith(LAYER_TYPES):
            raise InputError("unsupported-layer-type", f"cannot encrypt a layer of type {desc.get('mediaType')!r}")
        # the source is spooled first: a registry read that drops is retried by rewinding its sink
        with tempfile.TemporaryFile() as raw, tempfile.TemporaryFile() as spool:
            self.source.store.fetch_blob(self.source.repository, str(desc["digest"]), raw)
            enc = ocicrypt.LayerEncryptor(spool, str(desc["digest"]))
            _through(raw, enc)
            key, mac, digest, size = enc.finish()
            self._push(spool, digest, size)
        self.report["encrypted"] += 1
        ann = {**(desc.get("annotations") or {}), **self.annotations(key, mac)}
        base = {k: v for k, v in desc.items() if k not in ("mediaType", "digest", "size", "annotations")}
        return {
            "mediaType": f"{desc['mediaType']}{ocicrypt.SUFFIX}",
            "digest": digest,
            "size": size,
            **base,
            "annotations": ann,
        }

    def annotations(self, key: ocicrypt.LayerKey, mac: bytes) -> dict[str, str]:
        from assay.service import broker

        wrapped = [broker.wrap_opts(b, key.to_json()) for b in self.brokers]
        return ocicrypt.layer_annotations(key, mac, self.recipients, {broker.PROVIDER: wrapped} if wrapped else None)

    def unwrap(self, desc: dict[str, Any]) -> ocicrypt.LayerKey:
        """The layer key: from a JWE recipient with ``keys``, else through the broker with ``evidence``."""
        from assay.service import broker

        if self.evidence is None:
            if not self.keys:
                raise InputError("no-key", "the image has encrypted layers: give a private key or a broker")
            return ocicrypt.unwrap(desc, self.keys)
        if self.keys:
            try:
                return ocicrypt.unwrap(desc, self.keys)
            except AssayError as exc:
                if exc.reason not in ("no-matching-key", "no-jwe-recipients"):
                    raise
        wrapped = ocicrypt.provider_keys(desc, broker.PROVIDER)
        if not wrapped:
            raise InputError("no-broker-recipient", "the layer's key is not wrapped for an assay broker")
        last: AssayError | None = None
        for w in wrapped:
            try:
                return ocicrypt.LayerKey.from_json(broker.unwrap_opts(w, self.evidence, self.pinned))
            except AssayError as exc:
                if exc.reason != "broker-not-pinned":
                    raise
                last = exc
        assert last is not None
        raise last

    def rewrap_layer(self, desc: dict[str, Any]) -> dict[str, Any]:
        """The layer's broker-wrapped keys re-wrapped (the blob is copied as it is, not re-encrypted)."""
        import base64

        from assay.service import broker

        assert self.rewrap is not None
        wrapped = ocicrypt.provider_keys(desc, broker.PROVIDER)
        if not wrapped:
            raise InputError("no-broker-recipient", "an encrypted layer's key is not wrapped for an assay broker")
        fresh = ",".join(base64.b64encode(self.rewrap(w)).decode() for w in wrapped)
        self.copy_blob(str(desc["digest"]))
        self.report["rewrapped"] += 1
        ann = {**(desc.get("annotations") or {}), ocicrypt.KEYS_PROVIDER + broker.PROVIDER: fresh}
        return {**desc, "annotations": ann}

    def decrypt_layer(self, desc: dict[str, Any]) -> dict[str, Any]:
        key = self.unwrap(desc)
        mac = ocicrypt.public_hmac(desc)
        with tempfile.TemporaryFile() as raw, _plain_sink(self.dest is None) as spool:
            self.source.store.fetch_blob(self.source.repository, str(desc["digest"]), raw)
            dec = ocicrypt.LayerDecryptor(spool, key, mac)
            _through(raw, dec)
            digest, size = dec.finish()  # raises before anything reaches the destination
            if self.dest is not None:
                self._push(spool, digest, size)
        self.report["decrypted"] += 1
        return ocicrypt.plain_descriptor(desc, digest, size)

    def manifest(self, reference: str, decrypt: bool, touch: bool = True) -> tuple[bytes, str]:
        data, media_type, _ = self.source.store.get_manifest(self.source.repository, reference)
        doc = json.loads(data)
        if media_type in INDEX_TYPES:
            children = []
            for child in doc.get("manifests", []):
                chosen = touch and (self.platforms is None or _platform(child) in self.platforms)
                cdata, cmt = self.manifest(str(child["digest"]), decrypt, chosen)
                cdigest = _digest(cdata)
                if self.dest is not None:
                    self.dest.store.put_manifest(self.dest.repository, cdigest, cdata, cmt)
                children.append({**child, "digest": cdigest, "size": len(cdata)})
            if children == doc.get("manifests", []):
                return data, media_type
            doc["manifests"] = children
        else:
            self.copy_blob(str(doc["config"]["digest"]))
            layers = []
            for i, layer in enumerate(doc.get("layers", [])):
                chosen = touch and (self.layers is None or i in self.layers or i - len(doc["layers"]) in self.layers)
                if self.rewrap is not None and ocicrypt.is_encrypted(layer):
                    layers.append(self.rewrap_layer(layer))
                elif self.rewrap is not None:
                    self.copy_blob(str(layer["digest"]))
                    self.report["copied"] += 1
                    layers.append(layer)
                elif decrypt and touch and ocicrypt.is_encrypted(layer):
                    layers.append(self.decrypt_layer(layer))
                elif not decrypt and chosen:
                    layers.append(self.encrypt_layer(layer))
                else:
                    self.copy_blob(str(layer["digest"]))
                    self.report["copied"] += 1
                    layers.append(layer)
            if layers == doc.get("layers", []):
                return data, media_type
            doc["layers"] = layers
        return json.dumps(doc, separators=(",", ":")).encode(), media_type


def _plain_sink(digest_only: bool) -> BinaryIO:
    """Where a decrypted layer goes before its HMAC checked out: a spool to push from, or (digest only) nowhere,
    since the decryptor hashes the plaintext itself."""
    return open(os.devnull, "wb") if digest_only else tempfile.TemporaryFile()


def _platform(descriptor: dict[str, Any]) -> str:
    p = descriptor.get("platform") or {}
    parts = [str(p.get("os", "")), str(p.get("architecture", ""))] + ([str(p["variant"])] if p.get("variant") else [])
    return "/".join(parts)


def _digest(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def _run(src: str, dst: str, job_args: dict[str, Any], decrypt: bool, auth: RegistryAuth | None) -> dict[str, Any]:
    source = open_target(src, auth)
    dest = open_target(dst, auth, create=True)
    if dest.digest is not None:
        raise InputError("bad-image-reference", f"{dst}: the destination is named by a tag, not a digest")
    digest, _, _ = source.resolve()
    job = _Job(source, dest, **job_args)
    data, media_type = job.manifest(digest, decrypt)
    tag = dest.tag or source.tag or "latest"
    dest.store.put_manifest(dest.repository, tag, data, media_type)
    return {"source": source.pinned(digest), "destination": dest.with_tag(tag), "digest": _digest(data), **job.report}


def encrypt_image(
    src: str,
    dst: str,
    recipients: Sequence[str],
    *,
    keys: Sequence[str] = (),
    layers: Sequence[int] | None = None,
    platforms: Sequence[str] = (),
    auth: RegistryAuth | None = None,
) -> dict[str, Any]:
    """Encrypt the chosen layers (default all; of an index's ``platforms`` only, when given) to ``recipients``;
    already-encrypted layers are re-wrapped for exactly ``recipients`` with ``keys`` (their blobs are reused,
    not re-encrypted)."""
    if not recipients:
        raise InputError("no-recipients", "give at least one --recipient jwe:PUBLIC-KEY.pem or broker:URL/PROJECT/KEY")
    brokers = [r for r in recipients if r.startswith("broker:")]
    args = {
        "recipients": [load_public(r) for r in recipients if not r.startswith("broker:")],
        "brokers": brokers,
        "keys": [load_private(k) for k in keys],
        "layers": set(layers) if layers else None,
        "platforms": set(platforms) if platforms else None,
    }
    return _run(src, dst, args, False, auth)


def rewrap_image(
    src: str, dst: str, rewrap: Callable[[bytes], bytes], *, auth: RegistryAuth | None = None
) -> dict[str, Any]:
    """Every encrypted layer's assay key-provider annotation passed through ``rewrap``; blobs are reused."""
    return _run(src, dst, {"rewrap": rewrap}, False, auth)


def decrypt_image(
    src: str,
    dst: str,
    keys: Sequence[str],
    *,
    auth: RegistryAuth | None = None,
    brokers: Sequence[str] = (),
    evidence: Evidence | str | None = None,
) -> dict[str, Any]:
    """Decrypt every encrypted layer with one of ``keys`` or through one of ``brokers`` (showing ``evidence``);
    the plaintext layers reach ``dst`` only verified."""
    if not keys and not brokers:
        raise InputError("no-key", "give --key PRIVATE-KEY.pem or --broker URL")
    args = {"keys": [load_private(k) for k in keys], "pinned": list(brokers), "evidence": evidence if brokers else None}
    return _run(src, dst, args, True, auth)


@dataclass(frozen=True)
class DecryptedCheck:
    """An expected decrypted digest and what decrypts the image: loaded keys and/or pinned brokers + evidence."""

    expected: str
    keys: Sequence[jwe.PrivateKey] = ()
    brokers: Sequence[str] = ()
    evidence: Evidence | str | None = None

    def digest(self, source: Target, digest: str) -> tuple[str, int]:
        """(the digest of the manifest ``decrypt_image`` writes for ``source`` at the pinned ``digest``, the number
        of layers decrypted) — computed with nothing written: every encrypted layer is decrypted and its HMAC
        checked, the config and plain layers are not read."""
        job = _Job(source, None, keys=self.keys, pinned=list(self.brokers), evidence=self.evidence)
        data, _ = job.manifest(digest, True)
        return _digest(data), job.report["decrypted"]


def decrypted_check(
    expected: str, keys: Sequence[str] = (), *, brokers: Sequence[str] = (), evidence: Evidence | str | None = None
) -> DecryptedCheck:
    """A ``DecryptedCheck`` from ``sha256:HEX`` and key files (checked now, before anything is fetched)."""
    hexpart = expected.removeprefix("sha256:")
    if not expected.startswith("sha256:") or len(hexpart) != 64 or hexpart.strip("0123456789abcdef"):
        raise InputError("bad-digest", f"{expected!r}: give the decrypted digest as sha256:<64 lowercase hex>")
    loaded = [load_private(k) for k in keys]
    return DecryptedCheck(expected, loaded, list(brokers), evidence if brokers else None)
