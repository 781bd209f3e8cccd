"""Gathering what a policy evaluates: an artifact's digest and every bundle about it.

Blobs: ``FILE.sigstore.json`` and ``FILE.*.sigstore.json`` next to the file,
or the ``--bundle`` files given. Images: everything attached in either
layout (referrers and cosign's ``.sig``/``.att``). Fetching happens here;
evaluation is pure over the result.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import AssayError, InputError
from assay.formats import safejson
from assay.formats.bundle import Bundle, parse_bundle
from assay.verify.model import Artifact


@dataclass
class Material:
    bundle: Bundle
    artifact: Artifact
    where: str
    raw: bytes
    statement: Any = None  # decoded DSSE payload (attestations)
    cel_variables: dict[str, Any] | None = None  # built once, on first use by a CEL condition

    @property
    def predicate_type(self) -> str | None:
        return self.statement.get("predicateType") if isinstance(self.statement, dict) else None


@dataclass
class Target:
    kind: str  # blob | image
    name: str  # as given
    match_name: str  # path for blobs; registry/repository for images
    tag: str | None
    sha256: str
    materials: list[Material] = field(default_factory=list)
    rejected: list[AssayError] = field(default_factory=list)


def statement_of(bundle: Bundle) -> Any:
    if bundle.dsse_envelope is None:
        return None
    try:
        return safejson.loads(bundle.dsse_envelope.payload, what="statement")
    except InputError:
        return None


def blob_target(path: str, bundles: list[str] | None = None) -> Target:
    from assay.service.blob import load_artifact

    art = load_artifact(path, need_message=False)
    if bundles is None:
        bundles = [
            p
            for p in [path + ".sigstore.json", *sorted(glob.glob(glob.escape(path) + ".*.sigstore.json"))]
            if Path(p).is_file()
        ]
    target = Target("blob", path, path, None, art.sha256.hex())
    for b in bundles:
        try:
            raw = Path(b).read_bytes()
            bundle = parse_bundle(raw)
        except OSError as exc:
            target.rejected.append(AssayError("bundle-unreadable", f"{b}: {exc.strerror}"))
            continue
        except AssayError as exc:
            target.rejected.append(exc)
            continue
        target.materials.append(Material(bundle, art.as_artifact(), b, raw, statement_of(bundle)))
    return target


def image_target(image: str, auth: Any = None) -> Target:
    from assay.oci.target import open_target
    from assay.service.image import collect

    t = open_target(image, auth)
    digest, _, _ = t.resolve()
    return attached_target(image, t, digest, collect(t.store, t.repository, digest))


def attached_target(name: str, t: Any, digest: str, attached: Any) -> Target:
    """A policy target from what ``service.image.collect`` found attached to an image digest."""
    target = Target("image", name, t.name, t.tag, digest.split(":", 1)[1], rejected=list(attached.rejected))
    for bundle, artifact, where in attached.candidates:
        target.materials.append(
            Material(bundle, artifact, f"{t.pinned(digest)} ({where})", bundle.to_bytes(), statement_of(bundle))
        )
    return target
