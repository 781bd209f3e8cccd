"""Evidence and repository use cases for the CLI: harvest and upload, search, graph, publish, fetch, policy eval."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from assay.clients.evidence import EvidenceClient
from assay.errors import InputError, VerificationError
from assay.service.io import read_file


def put(client: EvidenceClient, targets: list[str], accept_unverified: bool, auth: Any = None) -> list[dict[str, Any]]:
    """Upload files (bundle, envelope, link, .intoto.jsonl) or everything attached to an image."""
    from assay.oci.reference import is_image_argument

    out: list[dict[str, Any]] = []
    for t in targets:
        if Path(t).is_file() or not is_image_argument(t):
            data = read_file(t, "evidence")
        else:
            data = harvest_image(t, auth)
        out.extend(client.put(data, accept_unverified)["items"])
    return out


def harvest_image(image: str, auth: Any = None) -> bytes:
    """An image's referrer bundles and cosign ``.sig``/``.att`` items, as one ``.intoto.jsonl`` batch."""
    from assay.oci.target import open_target
    from assay.service.image import collect

    t = open_target(image, auth)
    digest, _, _ = t.resolve()
    found = collect(t.store, t.repository, digest)
    if not found.candidates:
        raise InputError("no-evidence", f"{image}: nothing is attached to {digest}")
    return b"\n".join(json.dumps(b.to_json(), separators=(",", ":")).encode() for b, _, _ in found.candidates) + b"\n"


def publish(client: EvidenceClient, file: str, name: str, version: str, bundles: list[str]) -> dict[str, Any]:
    """Upload the evidence, then stream the file; the server publishes it only if it passes the policy."""
    from assay.crypto.digest import sha256_file

    path = Path(file)
    if not path.is_file():
        raise InputError("file-not-found", f"{file}: no such file")
    for b in bundles:
        client.put(read_file(b, "bundle"))
    sha = sha256_file(file).hex()
    return client.publish(path, sha, name, version)


def parse_coordinates(ref: str) -> tuple[str, str, str]:
    """``PROJECT/NAME@VERSION`` → its parts."""
    head, at, version = ref.rpartition("@")
    project, slash, name = head.partition("/")
    if not (at and slash and project and name and version) or "/" in name:
        raise InputError("bad-reference", f"{ref!r}: give PROJECT/NAME@VERSION")
    return project, name, version


def fetch(client: EvidenceClient, name: str, version: str, out: str, vsa_key: str | None) -> dict[str, Any]:
    """Download to a temporary file beside OUT, check the digest and the VSA, then rename into place."""
    from assay.crypto import keys
    from assay.verify import pipeline
    from assay.verify.model import Artifact
    from assay.verify.policy import Policy

    target = Path(out)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with tmp.open("wb") as fh:
            got, announced, vsa_digest = client.download(name, version, fh)
            fh.flush()
            os.fsync(fh.fileno())
        if announced != "sha256:" + got:
            raise VerificationError(
                "digest-mismatch", f"downloaded bytes hash to sha256:{got}, server said {announced}"
            )
        vsa_raw = client.vsa(name, version)
        if vsa_digest and hashlib.sha256(vsa_raw).hexdigest() != vsa_digest.split(":", 1)[-1]:
            raise VerificationError("vsa-mismatch", "the VSA is not the one the server named")
        pem = Path(vsa_key).read_bytes() if vsa_key else client.repository_key()
        key = keys.parse_public(pem, "repository key")
        from assay.formats.bundle import parse_bundle

        result = pipeline.verify(
            parse_bundle(vsa_raw), Artifact(bytes.fromhex(got)), Policy(key=key, expect_statement=True), None
        )
        predicate = result.predicate if isinstance(result.predicate, dict) else {}
        if result.statement.get("predicateType") != "https://slsa.dev/verification_summary/v1":
            raise VerificationError("vsa-invalid", "the summary is not a SLSA VSA")
        if predicate.get("verificationResult") != "PASSED":
            raise VerificationError("vsa-failed", "the VSA does not say PASSED")
        resource = f"{client.project}/{name}@{version}"
        if predicate.get("resourceUri") != resource:
            raise VerificationError("vsa-resource-mismatch", f"the VSA is about {predicate.get('resourceUri')!r}")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"file": out, "digest": "sha256:" + got, "vsa": vsa_digest, "policy": predicate.get("policy", {})}


def evaluate_targets(
    policy_path: str, targets: list[str], server: str, project: str | None, auth: Any = None, bundles: Any = None
) -> Any:
    """``policy eval --evidence-server``: each target's digest, and every verified item the store has about it."""
    from assay.oci.reference import is_image_argument
    from assay.policy.evaluate import evaluate
    from assay.policy.materials import Target
    from assay.repository.service import material_of
    from assay.service.blob import load_artifact
    from assay.service.policy import Run, load_policy

    if not project:
        raise InputError("usage", "--evidence-server needs --project")
    if bundles:
        raise InputError("usage", "--bundle and --evidence-server are exclusive")
    policy = load_policy(policy_path)
    client = EvidenceClient.create(server, project)
    evaluations = []
    for t in targets:
        if is_image_argument(t) and not Path(t).exists():
            from assay.oci.target import open_target

            ot = open_target(t, auth)
            digest, _, _ = ot.resolve()
            target = Target("image", t, ot.name, ot.tag, digest.split(":", 1)[1])
        else:
            target = Target("blob", t, t, None, load_artifact(t, need_message=False).sha256.hex())
        for row in client.search(subject="sha256:" + target.sha256):
            m = material_of(row, client.get(row["digest"]), bytes.fromhex(target.sha256))
            if m is not None:
                target.materials.append(m)
        evaluations.append(evaluate(policy, target))
    return Run(policy, evaluations)
