"""An OCI image layout directory (``oci-layout``, ``index.json``, ``blobs/<alg>/<hex>``) as a store.

Tags are ``org.opencontainers.image.ref.name`` annotations in ``index.json``;
the repository argument is ignored (a layout holds one repository). Every blob
read is checked against its digest; ``index.json`` is replaced atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from assay.errors import InputError, VerificationError
from assay.formats import safejson
from assay.oci import manifest
from assay.oci.store import MANIFEST_LIMIT, MANIFEST_TYPES, OCI_INDEX, OCI_MANIFEST

REF_NAME = "org.opencontainers.image.ref.name"


class Layout:
    """A store backed by an OCI image layout directory."""

    def __init__(self, root: Path, create: bool = False) -> None:
        self.root = root
        self.host = f"oci:{root}"
        if not (root / "oci-layout").is_file():
            if not create:
                raise InputError("image-not-found", f"{root} is not an OCI image layout (no oci-layout file)")
            (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
            (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
            if not (root / "index.json").exists():
                self._write_index({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})

    # ---- index.json --------------------------------------------------------------------

    def _index(self) -> dict[str, Any]:
        try:
            data = (self.root / "index.json").read_bytes()
        except OSError:
            raise InputError("layout-malformed", f"{self.root}/index.json is missing") from None
        try:
            return manifest.check_doc(
                safejson.loads(data, what=f"{self.root}/index.json"), OCI_INDEX, f"{self.root}/index.json"
            )
        except InputError as exc:
            raise InputError("layout-malformed", exc.message) from None

    def _write_index(self, doc: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".index-")
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps(doc, indent=2).encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.root / "index.json")

    # ---- blobs -------------------------------------------------------------------------

    def _path(self, digest: str) -> Path:
        alg, _, hexpart = digest.partition(":")
        if alg != "sha256" or len(hexpart) != 64 or not all(c in "0123456789abcdef" for c in hexpart):
            raise InputError("unsupported-digest", f"{digest}: only sha256 digests are supported")
        return self.root / "blobs" / alg / hexpart

    def blob_exists(self, repo: str, digest: str) -> bool:
        return self._path(digest).is_file()

    def fetch_blob(self, repo: str, digest: str, sink: BinaryIO, limit: int | None = None) -> int:
        path = self._path(digest)
        h = hashlib.sha256()
        size = 0
        try:
            with path.open("rb") as f:
                while chunk := f.read(1024 * 1024):
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise InputError("blob-too-large", f"blob {digest} exceeds {limit} bytes")
                    h.update(chunk)
                    sink.write(chunk)
        except FileNotFoundError:
            raise InputError("blob-not-found", f"{self.host}: blob {digest} does not exist") from None
        if "sha256:" + h.hexdigest() != digest:
            raise VerificationError("blob-digest-mismatch", f"{path} does not hash to {digest}")
        return size

    def get_blob(self, repo: str, digest: str, limit: int = 64 * 1024 * 1024) -> bytes:
        import io

        sink = io.BytesIO()
        self.fetch_blob(repo, digest, sink, limit)
        return sink.getvalue()

    def push_blob_chunks(self, repo: str, digest: str, size: int, chunks: Iterator[bytes]) -> None:
        path = self._path(digest)
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        h = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    h.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            if "sha256:" + h.hexdigest() != digest:
                raise VerificationError("blob-digest-mismatch", f"the bytes written do not hash to {digest}")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.push_blob_chunks(repo, digest, len(data), iter([data]))
        return digest

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        return self.blob_exists(repo, digest)

    # ---- manifests ---------------------------------------------------------------------

    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, str]:
        media_type = None
        digest = reference
        if not reference.startswith("sha256:"):
            for m in self._index().get("manifests", []):
                if (m.get("annotations") or {}).get(REF_NAME) == reference:
                    digest, media_type = str(m.get("digest")), m.get("mediaType")
                    break
            else:
                raise InputError("image-not-found", f"{self.host} has no image tagged {reference!r}")
        data = self.get_blob(repo, digest, MANIFEST_LIMIT)
        doc = manifest.check(data, None, f"{self.host}: manifest {digest}")
        if media_type is None:
            media_type = doc.get("mediaType") or OCI_MANIFEST
        if media_type not in MANIFEST_TYPES:
            raise InputError("unsupported-media-type", f"{self.host}: {reference} has media type {media_type!r}")
        manifest.check_doc(doc, str(media_type), f"{self.host}: manifest {digest}")
        return data, str(media_type), digest

    def resolve(self, repo: str, reference: str) -> tuple[str, str, int]:
        data, media_type, digest = self.get_manifest(repo, reference)
        return digest, media_type, len(data)

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> str | None:
        if len(data) > MANIFEST_LIMIT:
            raise InputError("manifest-too-large", f"manifest exceeds {MANIFEST_LIMIT} bytes")
        digest = self.push_blob(repo, data)
        descriptor: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": len(data)}
        index = self._index()
        manifests = index.setdefault("manifests", [])
        if reference.startswith("sha256:"):
            if reference != digest:
                raise VerificationError("manifest-digest-mismatch", f"manifest bytes do not hash to {reference}")
            if any(m.get("digest") == digest for m in manifests):
                return None
        else:
            descriptor["annotations"] = {REF_NAME: reference}
            manifests[:] = [m for m in manifests if (m.get("annotations") or {}).get(REF_NAME) != reference]
            # an untagged entry for the same manifest is superseded by the tagged one
            manifests[:] = [m for m in manifests if m.get("digest") != digest or m.get("annotations")]
        manifests.append(descriptor)
        self._write_index(index)
        return None

    def list_tags(self, repo: str, page_size: int = 100) -> list[str]:
        return [
            str(m["annotations"][REF_NAME])
            for m in self._index().get("manifests", [])
            if REF_NAME in (m.get("annotations") or {})
        ]

    def referrers(self, repo: str, digest: str, artifact_type: str | None = None) -> list[dict[str, Any]] | None:
        return None
