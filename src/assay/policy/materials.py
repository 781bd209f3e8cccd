"""What a policy evaluates: a target (an artifact's digest) and every bundle about it, as materials.

Pure: the service layer (:mod:`assay.service.policy`) reads the files and
registries — blobs' ``FILE.sigstore.json`` and ``FILE.*.sigstore.json`` or
the ``--bundle`` files given; images' attachments in either layout
(referrers and cosign's ``.sig``/``.att``) — and hands the bytes here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
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


def blob_target(
    path: str, sha256: bytes, artifact: Artifact, bundles: Sequence[tuple[str, bytes | AssayError]]
) -> Target:
    """A blob target from its digest and each bundle file's bytes (or why that file could not be read)."""
    target = Target("blob", path, path, None, sha256.hex())
    for where, raw in bundles:
        if isinstance(raw, AssayError):
            target.rejected.append(raw)
            continue
        try:
            bundle = parse_bundle(raw)
        except AssayError as exc:
            target.rejected.append(exc)
            continue
        target.materials.append(Material(bundle, artifact, where, raw, statement_of(bundle)))
    return target


def attached_target(name: str, t: Any, digest: str, attached: Any) -> Target:
    """An image target from what ``service.image.collect`` found attached to a digest of ``t`` (an OCI target)."""
    target = Target("image", name, t.name, t.tag, digest.split(":", 1)[1], rejected=list(attached.rejected))
    for bundle, artifact, where in attached.candidates:
        target.materials.append(
            Material(bundle, artifact, f"{t.pinned(digest)} ({where})", bundle.to_bytes(), statement_of(bundle))
        )
    return target
