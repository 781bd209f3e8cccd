"""Publishing (policy-gated), reading and deleting artifact versions; the repository policy.

Reading a policy's files and keys is the service layer's job (:func:`assay.service.policy.load_policy`); the
caller hands that loader in, so this package never imports the layer that composes it.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from assay.crypto import keys
from assay.crypto.signer import Signer
from assay.errors import InputError, VerificationError
from assay.evidence.parse import parse_item
from assay.evidence.store import EvidenceStore
from assay.evidence.trust import Trust, verify_item
from assay.formats import safejson
from assay.formats.bundle import MEDIA_TYPE_V03, Bundle
from assay.policy.model import Policy
from assay.repository.blobs import BlobStore
from assay.store.schema import artifacts
from assay.store.txn import write_transaction
from assay.verify.model import Artifact

POLICY_FILE = "policy.yaml"
PolicyLoader = Callable[[str], Policy]  # a policy file's path -> the compiled policy, its keys and trust read


@dataclass
class Version:
    """One published artifact version."""

    project: str
    name: str
    version: str
    digest: str
    size: int
    vsa_digest: str
    result: dict[str, Any]
    publisher: str
    created: int

    def to_json(self) -> dict[str, Any]:
        """JSON summary (without the policy report)."""
        return {
            "project": self.project,
            "name": self.name,
            "version": self.version,
            "digest": "sha256:" + self.digest,
            "size": self.size,
            "vsa": "sha256:" + self.vsa_digest,
            "result": self.result.get("result"),
            "publishedBy": self.publisher,
            "published": self.created,
        }


MAX_POLICY_FILES = 64
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


def _file_name(name: str) -> str:
    if not _FILE_NAME.fullmatch(name) or ".." in name or name == POLICY_FILE:
        raise InputError(
            "bad-name", f"policy file name {name[:60]!r} is not allowed (one path segment: letters, digits, '._+-')"
        )
    return name


def check_document(doc: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """A repository policy document ``{"policy": TEXT, "files": {NAME: TEXT}}``, typed; InputError otherwise."""
    unknown = sorted(set(doc) - {"policy", "files"})
    policy = doc.get("policy")
    files = doc.get("files", {})
    if unknown or not isinstance(policy, str) or not isinstance(files, dict):
        raise InputError("policy-invalid", "expected {'policy': TEXT, 'files': {NAME: TEXT}} and nothing else")
    if len(files) > MAX_POLICY_FILES:
        raise InputError("policy-invalid", f"at most {MAX_POLICY_FILES} files")
    for name, text in files.items():
        _file_name(name)
        if not isinstance(text, str):
            raise InputError("policy-invalid", f"file {name!r} must be text")
    return policy, files


def confine(policy: str) -> None:
    """Refuse a repository policy that names anything outside the files sent with it.

    The policy is loaded on the server: a key, layout, links directory or trusted root named by an absolute
    path or through ``..`` would be read from the server's own filesystem, and ``spec.trust.server`` would make
    the server fetch a URL of the policy writer's choosing. Only names of files given with the policy (one path
    segment, or ``.`` for the links directory) are accepted; InputError ``policy-file-outside`` or
    ``policy-trust-server-refused`` otherwise.
    """
    from assay.policy import loader

    source = loader.parse(policy.encode("utf-8"), POLICY_FILE)
    named: list[tuple[str, str]] = [("key", k) for k in source.key_refs()]
    for i, ref in source.layout_refs().items():
        named.append((f"rule {i} layout", ref["layout"]))
        named.extend((f"rule {i} layout key", k) for k in ref["keys"])
        if ref["links"] not in (".", "./"):
            named.append((f"rule {i} links", ref["links"]))
    trust = source.trust_ref
    if trust is not None and trust[0] == "server":
        raise InputError(
            "policy-trust-server-refused",
            "a repository policy cannot name a trust server (the server would fetch it); send a trustedRoot file",
        )
    if trust is not None:
        named.append(("trustedRoot", trust[1]))
    for what, value in named:
        if not isinstance(value, str) or not _FILE_NAME.fullmatch(value) or ".." in value:
            raise InputError(
                "policy-file-outside",
                f"{what} {str(value)[:80]!r}: a repository policy names only files sent with it (a plain file name)",
            )


def materialize(doc: dict[str, Any], directory: Path) -> Path:
    """Write a policy document and its files (keys, trusted roots) into ``directory``; return the policy path."""
    policy, files = check_document(doc)
    confine(policy)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    path = directory / POLICY_FILE
    path.write_text(policy, encoding="utf-8")
    return path


def set_policy(
    store: EvidenceStore, blobs: BlobStore, project: str, doc: dict[str, Any], load_policy: PolicyLoader
) -> dict[str, Any]:
    """Validate (load and compile) a repository policy, then store it for the project."""
    scratch = blobs.scratch()
    try:
        pol = load_policy(str(materialize(doc, scratch)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    store.set_policy_text(project, json.dumps({"policy": doc["policy"], "files": doc.get("files") or {}}))
    return {"project": project, "policy": pol.name, "digest": "sha256:" + pol.digest, "mode": pol.mode}


def material_of(row: dict[str, Any], raw: bytes, sha256: bytes) -> Any:
    """A policy material from a stored item (a bare envelope becomes a keyed bundle; links are skipped)."""
    from assay.policy.materials import Material, statement_of

    item = parse_item(raw)
    if item.bundle is not None:
        bundle = item.bundle
    elif item.envelope is not None:
        bundle = Bundle(media_type=MEDIA_TYPE_V03, version=(0, 3), dsse_envelope=item.envelope)
    else:
        return None  # links are not bundles; the policy engine evaluates bundles
    return Material(bundle, Artifact(sha256), f"evidence {row['digest']}", raw, statement_of(bundle))


def evaluate(
    store: EvidenceStore, blobs: BlobStore, project: str, name: str, sha256: str, load_policy: PolicyLoader
) -> Any:
    """The project's repository policy over every verified item of evidence about the digest."""
    from assay.policy.evaluate import evaluate as run
    from assay.policy.materials import Target

    text = store.policy_text(project)
    if not text:
        raise VerificationError(
            "no-repository-policy", f"project {project} has no repository policy; nothing is served"
        )
    scratch = blobs.scratch()
    try:
        policy = load_policy(str(materialize(safejson.load_object(text, what="policy"), scratch)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    target = Target("blob", name, name, None, sha256)
    for row, raw in store.about(project, "sha256:" + sha256):
        m = material_of(row, raw, bytes.fromhex(sha256))
        if m is not None:
            target.materials.append(m)
    return policy, run(policy, target)


def sign_vsa(signer: Signer, resource: str, sha256: str, policy: Any, ev: Any) -> bytes:
    """A signed VSA bundle (DSSE, the repository key) recording the policy result."""
    from assay import __version__
    from assay.attest import vsa
    from assay.sign import blob as sign_blob

    inputs = [(m.where, m.raw) for r in ev.rules for m in r.inputs]
    summary = vsa.Summary(resource, policy.path.rsplit("/", 1)[-1], policy.raw, inputs, ev.passed, [])
    statement = sign_blob.make_statement(
        resource, bytes.fromhex(sha256), vsa.PREDICATE_TYPE, vsa.predicate(summary, __version__)
    )
    return sign_blob.sign_statement(signer, statement).to_bytes()


def store_vsa(store: EvidenceStore, project: str, vsa_bytes: bytes, repository_key: keys.PublicKey) -> str:
    """Keep the VSA as verified evidence of the project: verified, like any upload, under the repository key."""
    item = parse_item(vsa_bytes)
    verdict = verify_item(item, Trust(root=None, keys=[repository_key]))
    store.put(project, [(item, verdict, None)], "assay-repository")
    return item.digest


def get(engine: Engine, project: str, name: str, version: str) -> Version | None:
    """A version, or None."""
    with engine.connect() as conn:
        row = conn.execute(
            select(artifacts).where(
                artifacts.c.project == project, artifacts.c.name == name, artifacts.c.version == version
            )
        ).first()
    return _version(row) if row is not None else None


def versions(engine: Engine, project: str, name: str) -> list[Version]:
    """Every version of a name, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(artifacts)
            .where(artifacts.c.project == project, artifacts.c.name == name)
            .order_by(artifacts.c.created, artifacts.c.version)
        )
        return [_version(r) for r in rows]


def record(engine: Engine, v: Version) -> Version:
    """Insert a version; an existing one with the same digest is returned, another digest is refused."""
    try:
        with write_transaction(engine) as conn:
            conn.execute(
                insert(artifacts).values(
                    project=v.project,
                    name=v.name,
                    version=v.version,
                    digest=v.digest,
                    size=v.size,
                    vsa_digest=v.vsa_digest,
                    result=json.dumps(v.result),
                    publisher=v.publisher,
                    created=v.created or int(time.time()),
                )
            )
    except IntegrityError:
        existing = get(engine, v.project, v.name, v.version)
        if existing is None:
            raise
        return check_immutable(existing, v.digest)
    return v


def check_immutable(existing: Version, digest: str) -> Version:
    """The existing version when the digest is the same; InputError ``version-exists`` otherwise."""
    if existing.digest != digest:
        raise InputError(
            "version-exists",
            f"{existing.name}@{existing.version} is already published with sha256:{existing.digest}; versions are immutable",
        )
    return existing


def drop_unreferenced(engine: Engine, blobs: BlobStore, sha256: str) -> None:
    """Delete a blob no version references."""
    with engine.connect() as conn:
        used = conn.execute(select(artifacts.c.name).where(artifacts.c.digest == sha256).limit(1)).first()
    if used is None:
        blobs.delete(sha256)


def remove(engine: Engine, blobs: BlobStore, project: str, name: str, version: str) -> Version:
    """Delete a version (its evidence and VSA stay); the blob goes when no other version uses it."""
    v = get(engine, project, name, version)
    if v is None:
        raise LookupError(f"no artifact {project}/{name}@{version}")
    with write_transaction(engine) as conn:
        conn.execute(
            delete(artifacts).where(
                artifacts.c.project == project, artifacts.c.name == name, artifacts.c.version == version
            )
        )
        still = conn.execute(select(artifacts.c.name).where(artifacts.c.digest == v.digest).limit(1)).first()
    if still is None:
        blobs.delete(v.digest)
    return v


def _version(r: Any) -> Version:
    return Version(
        r.project,
        r.name,
        r.version,
        r.digest,
        r.size,
        r.vsa_digest,
        safejson.load_object(r.result),
        r.publisher,
        r.created,
    )
