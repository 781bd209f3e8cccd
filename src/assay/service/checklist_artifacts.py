"""Checklist rows that need verification or files beyond a repository: an image, a release, cluster manifests.

Each row verifies through the same code as ``assay verify``/``verify-blob`` (never a weaker path); without a key
or identity to verify against, a row says what is attached and stays ``unknown`` rather than passing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from assay.checklist.manifests import check_admission
from assay.checklist.release import plan
from assay.errors import AssayError, InputError, VerificationError
from assay.verify.identity import IdentityPolicy

SLSA = ("slsaprovenance1", "slsaprovenance02")
SBOMS = ("cyclonedx", "spdx")


@dataclass(frozen=True)
class Who:
    """Who must have signed (a public key or an identity policy) and where trust comes from."""

    key: str | None
    identity: IdentityPolicy | None
    trusted_root: str | None = None
    server: str | None = None


def _row(item: str, status: str, evidence: list[str], fix: str) -> dict[str, Any]:
    return {"item": item, "status": status, "evidence": evidence, "fix": fix}


def _first_verified(run: Any, kinds: tuple[str | None, ...]) -> tuple[str, list[str]]:
    """("pass", notes) for the first kind that verifies, else ("fail", the first reason of each kind)."""
    reasons: list[str] = []
    for kind in kinds:
        try:
            result = run(kind)
        except VerificationError as exc:
            reasons.append(f"{kind or 'signature'}: {exc.reason}: {exc.message}")
            continue
        return "pass", [f"{kind or 'signature'} verified", *result.notes[-1:]]
    return "fail", reasons


def check_image(ref: str, who: Who | None, auth: Any = None) -> list[dict[str, Any]]:
    """Rows image-signed, image-provenance and image-sbom for one image reference."""
    from assay.service import image as image_svc

    fixes = {
        "image-signed": "sign the image: assay sign IMAGE (keyless in CI, or --key)",
        "image-provenance": "attest SLSA provenance: assay attest IMAGE --type slsaprovenance1 --predicate P",
        "image-sbom": "attach an SBOM: assay sbom IMAGE -o sbom.json && assay attach sbom IMAGE --sbom sbom.json",
    }
    if who is None:
        attached = image_svc.tree(ref, auth=auth)["attached"]
        sigs = sum(1 for a in attached if a.get("kind") == "signature")
        types = [str(a.get("predicateType")) for a in attached if a.get("kind") == "attestation"]
        seen = {
            "image-signed": f"{sigs} signature(s) attached",
            "image-provenance": f"attestations attached: {', '.join(types) or 'none'}",
            "image-sbom": f"attestations attached: {', '.join(types) or 'none'}",
        }
        return [
            _row(item, "unknown", [f"{seen[item]}; give --key or --certificate-identity/--certificate-oidc-issuer "
                                   "to verify them"], fix)
            for item, fix in fixes.items()
        ]  # fmt: skip
    verifier = image_svc.ImageVerifier(who.key, who.identity, who.trusted_root, who.server)

    def run(kind: str | None) -> Any:
        return image_svc.verify_image(ref, verifier, auth=auth, predicate_type=kind)

    rows = []
    for item, kinds in (("image-signed", (None,)), ("image-provenance", SLSA), ("image-sbom", SBOMS)):
        status, evidence = _first_verified(run, kinds)
        rows.append(_row(item, status, evidence, fixes[item]))
    return rows


def _verify_list(root: str, name: str, bundle: str | None, sig: str | None, cert: str | None, who: Who) -> str:
    from assay.service import blob, detached

    path = os.path.join(root, name)
    if bundle:
        blob.verify_file(path, os.path.join(root, bundle), who.key, identity=who.identity,
                         trusted_root=who.trusted_root, server=who.server)  # fmt: skip
        return f"{bundle} verifies {name}"
    assert sig is not None
    detached.verify_detached(
        path, os.path.join(root, sig), certificate_path=os.path.join(root, cert) if cert else None, chain_path=None,
        key_path=who.key, identity=who.identity, trusted_root=who.trusted_root, server=who.server,
        ignore_tlog=bool(who.key) and not who.server,
    )  # fmt: skip
    note = " (log not checked: no --server)" if who.key and not who.server else ""
    return f"{sig} verifies {name}{note}"


def check_release(root: str, who: Who | None) -> list[dict[str, Any]]:
    """Rows release-checksums (every artifact listed, every digest matches) and release-signed."""
    from assay import checksums

    if not os.path.isdir(root):
        raise InputError("file-not-found", f"{root}: not a directory")
    names = sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n)))
    lists, artifacts = plan(names)
    fix_sums = "publish sha256 checksums of every artifact: sha256sum * > checksums.txt"
    fix_sig = "sign the checksums file: assay sign-blob checksums.txt --bundle checksums.txt.sigstore.json"
    if not lists:
        return [
            _row("release-checksums", "fail", [f"no checksums file among {len(names)} file(s)"], fix_sums),
            _row("release-signed", "fail", ["no checksums file to sign"], fix_sig),
        ]
    bad: list[str] = []
    listed: set[str] = set()
    for sl in lists:
        text = Path(root, sl.name).read_text(errors="replace")
        report = checksums.verify(text, source=sl.name, base=root)
        listed |= {r.name for r in report.results}
        bad += [f"{sl.name}: {r.name} {r.status}" for r in report.results if r.status != "ok"]
    unlisted = [a for a in artifacts if a not in listed]
    bad += [f"{a} is in no checksums file" for a in unlisted]
    sums = _row(
        "release-checksums",
        "fail" if bad else "pass",
        bad or [f"{len(listed)} file(s) match {', '.join(s.name for s in lists)}"],
        fix_sums,
    )
    status, evidence = "pass", []
    for sl in lists:
        if not (sl.bundle or sl.signature):
            status = "fail"
            evidence.append(f"{sl.name} has no {sl.name}.sigstore.json or {sl.name}.sig")
            continue
        if who is None:
            status = "unknown" if status == "pass" else status
            evidence.append(f"{sl.bundle or sl.signature} present; give --key or an identity to verify it")
            continue
        try:
            evidence.append(_verify_list(root, sl.name, sl.bundle, sl.signature, sl.certificate, who))
        except AssayError as exc:
            if not isinstance(exc, VerificationError | InputError):
                raise
            status = "fail"
            evidence.append(f"{sl.bundle or sl.signature}: {exc.reason}: {exc.message}")
    return [sums, _row("release-signed", status, evidence, fix_sig)]


def check_manifests(root: str) -> dict[str, Any]:
    """Row admission-enforcing over the Kubernetes manifests (YAML/JSON files) under ``root``."""
    docs: list[tuple[str, Any]] = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        for f in sorted(files):
            if not f.endswith((".yaml", ".yml", ".json")):
                continue
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)
            try:
                for i, doc in enumerate(yaml.safe_load_all(Path(p).read_text(errors="replace"))):
                    docs.append((f"{rel}#{i}" if i else rel, doc))
            except yaml.YAMLError as exc:
                raise InputError("manifest-unparseable", f"{rel}: {str(exc).splitlines()[0]}") from None
    found = check_admission(docs)
    fix = "enforce signatures at admission: assay admission install (failurePolicy: Fail)"
    if not found.documents:
        return _row("admission-enforcing", "unknown", [f"no Kubernetes manifests under {root}"], fix)
    if found.enforcing:
        return _row("admission-enforcing", "pass", found.enforcing, fix)
    return _row(
        "admission-enforcing",
        "fail",
        found.weak or [f"no signature-verifying admission configuration in {found.documents} manifest(s)"],
        fix,
    )
