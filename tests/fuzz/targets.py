"""The parsers under fuzz: each target takes bytes and must either succeed or raise ``AssayError``.

Shared by ``tests/fuzz`` (a short seeded hypothesis pass and the regression files) and
``benchmarks/fuzz.py`` (a million inputs). Seeds are valid documents: published Sigstore conformance
bundles and trusted roots under ``seeds/``, the SBOM fixture's lock files, and small documents below.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import AssayError

SEEDS = Path(__file__).parent / "seeds"
REGRESSIONS = Path(__file__).parent / "regressions"
NO_SUCH_DIR = Path(tempfile.gettempdir()) / "assay-fuzz-no-such-dir"

POLICY = b"""apiVersion: assay.dev/v1
kind: Policy
metadata:
  name: release
spec:
  mode: enforce
  match:
    images: ["registry.example/app*"]
    tagRegExp: "^v[0-9]+"
    blobs: ["*.bin"]
  require:
    - name: signed
      signature:
        authorities:
          keyless:
            - issuer: https://accounts.example.com
              subjectRegExp: "^release@example\\\\.com$"
              claims: {sourceRepository: "https://github.com/example/app"}
    - name: built
      attestation:
        predicateType: https://slsa.dev/provenance/v1
        maxAge: 720h
        conditions:
          - predicate.buildDefinition.buildType.startsWith("https://")
          - size(subject) > 0 && subject.all(s, has(s.digest))
        authorities:
          keyless: [{issuer: https://accounts.example.com, subject: release@example.com}]
    - name: sbom
      sbom: {formats: [cyclonedx], authorities: {keyless: [{issuerRegExp: ".*", subjectRegExp: ".*"}]}}
    - name: vulns
      vulnerabilities:
        failOn: high
        allow: [CVE-2024-0001]
        authorities: {keyless: [{issuer: https://accounts.example.com, subject: release@example.com}]}
    - name: prov
      provenance: {sourceRepository: github.com/example/app, branch: main}
"""
ALIAS_BOMB = b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n".encode() for i in range(8)
)
CEL = (
    b'predicate.buildDefinition.buildType == "https://example.com/build/v1"',
    b'subject.exists(s, s.name.endsWith(".bin")) && size(predicate.materials) >= 1',
    b"predicateType in ['https://slsa.dev/provenance/v1'] ? true : 1 + 2 * 3 > 4",
    b'statement.predicate.x.map(v, v * 2).filter(v, v > 1).size() == 0 || !has(predicate.y) || "a".matches("^a")',
)
STATEMENT = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "app.bin", "digest": {"sha256": "ab" * 32}}],
    "predicateType": "https://slsa.dev/provenance/v1",
    "predicate": {"buildDefinition": {"buildType": "https://example.com/build/v1"}, "materials": [{"uri": "x"}]},
}
DIGEST = "sha256:" + "ab" * 32
MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": DIGEST, "size": 2},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": DIGEST, "size": 10}],
    "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": DIGEST, "size": 5},
    "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
}
INDEX = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": DIGEST,
            "size": 500,
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }
    ],
}
CYCLONEDX = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.6",
    "components": [
        {
            "type": "library",
            "name": "requests",
            "version": "2.32.3",
            "purl": "pkg:pypi/requests@2.32.3",
            "bom-ref": "pkg:pypi/requests@2.32.3",
            "properties": [{"name": "assay:location:0:path", "value": "site-packages"}],
            "components": [{"type": "library", "name": "idna", "purl": "pkg:pypi/idna@3.7"}],
        }
    ],
}
SPDX = {
    "spdxVersion": "SPDX-2.3",
    "SPDXID": "SPDXRef-DOCUMENT",
    "packages": [
        {
            "SPDXID": "SPDXRef-Package-npm-left-pad",
            "name": "left-pad",
            "sourceInfo": "package-lock.json",
            "externalRefs": [
                {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:npm/x@1"}
            ],
        }
    ],
}
OSV = {
    "id": "GHSA-xxxx-yyyy-zzzz",
    "modified": "2024-01-01T00:00:00Z",
    "aliases": ["CVE-2024-0001"],
    "summary": "a bug",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "requests"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.32.0"}]}],
            "versions": ["2.31.0"],
        }
    ],
}
CHECKSUMS = (
    f"{'ab' * 32}  app.bin\n{'cd' * 32} *dir/other file\n\\{'ef' * 32}  back\\\\slash\\nname\n"
    f"SHA256 (tagged.bin) = {'01' * 32}\n# comment\n"
).encode()


@dataclass(frozen=True)
class Target:
    """One parser: ``run(data)`` returns or raises ``AssayError``; ``seeds`` are valid inputs."""

    name: str
    run: Callable[[bytes], object]
    seeds: tuple[bytes, ...]


def _files(name: str) -> tuple[bytes, ...]:
    return tuple(p.read_bytes() for p in sorted((SEEDS / name).iterdir()))


def _json(doc: Any) -> bytes:
    return json.dumps(doc, indent=1).encode()


def _bundle(data: bytes) -> object:
    from assay.formats.bundle import parse_bundle

    return parse_bundle(data)


def _dsse(data: bytes) -> object:
    from assay.formats.dsse import Envelope
    from assay.formats.encoding import load_json

    return Envelope.from_json(load_json(data, "envelope"))


def _trusted_root(data: bytes) -> object:
    from assay.formats.trustroot import parse_trusted_root

    return parse_trusted_root(data)


def _checkpoint(data: bytes) -> object:
    from assay.formats.checkpoint import parse_checkpoint

    return parse_checkpoint(data.decode("utf-8", "replace"))


def _rekor_body(data: bytes) -> object:
    from assay.formats.rekor import SUPPORTED, parse_body

    parsed = []
    for kind, version in sorted(SUPPORTED):
        try:
            parsed.append(parse_body(data, kind, version))
        except AssayError:
            continue
    return parsed


def _statement(data: bytes) -> object:
    from assay.formats.intoto import parse_statement

    return parse_statement(data)


def _policy(data: bytes) -> object:
    from assay.policy import loader

    source = loader.parse(data, "fuzz-policy.yaml")
    # Every file the policy names is unreadable here (as if under NO_SUCH_DIR): compile sees those errors.
    missing = AssayError("file-not-found", f"{NO_SUCH_DIR}: no such file")
    keys: dict[str, Any] = dict.fromkeys(source.key_refs(), missing)
    layouts: dict[int, Any] = {
        i: loader.Unreadable("layout", "policy-layout-unreadable", "no such file") for i in source.layout_refs()
    }
    return loader.compile_policy(source, keys, layouts)


def _cel(data: bytes) -> object:
    from assay.policy.cel import CelError
    from assay.policy.loader import _cel as compile_cel

    condition = compile_cel(data.decode("utf-8", "replace"), "fuzz-cel", 1)
    variables = {
        "statement": STATEMENT,
        "predicate": STATEMENT["predicate"],
        "predicateType": STATEMENT["predicateType"],
        "subject": STATEMENT["subject"],
    }
    try:
        return condition.evaluate(variables)
    except CelError:
        return None  # the evaluator reports it as a failed check (condition-error)


def _catalog(path: str) -> Callable[[bytes], object]:
    def run(data: bytes) -> object:
        from assay.sbom.catalog import catalog_all
        from assay.sbom.source import MemoryTree

        tree = MemoryTree()
        tree.files[path] = data
        if path.endswith("/tool"):
            tree.binary_paths.add(path)
        return catalog_all(tree)

    return run


def _sbom_document(data: bytes) -> object:
    from assay.formats.encoding import load_json
    from assay.vuln.scan import packages_from_sbom

    return packages_from_sbom(load_json(data, "SBOM"), "fuzz-sbom.json")


def _oci_manifest(data: bytes) -> object:
    from assay.oci import manifest

    return manifest.check(data, None, "fuzz manifest")


_LAYOUT: list[Path] = []


def _oci_layout(data: bytes) -> object:
    from assay.oci.layout import Layout

    if not _LAYOUT:
        shm = Path("/dev/shm")
        root = Path(tempfile.mkdtemp(prefix="assay-fuzz-layout-", dir=shm if shm.is_dir() else None))
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        (root / "blobs" / "sha256").mkdir(parents=True)
        _LAYOUT.append(root)
    root = _LAYOUT[0]
    (root / "index.json").write_bytes(data)
    layout = Layout(root)
    tags = layout.list_tags("r")
    try:
        layout.get_manifest("r", "latest")
    except AssayError as exc:
        if exc.reason not in ("image-not-found", "blob-not-found"):
            raise
    return tags


def _checksums(data: bytes) -> object:
    from assay.formats.checksums import parse

    text = data.decode("utf-8", "replace")
    try:
        parse(text, strict=True)
    except AssayError:
        pass
    return parse(text, strict=False)


def _osv(data: bytes) -> object:
    from assay.formats.encoding import load_json
    from assay.vuln import osv

    record = osv.parse(load_json(data, "OSV record"))
    for a in record.affected:
        osv.affects(record, a, "2.31.5")
    return record


def _sbom_targets() -> list[Target]:
    from tests.sbom_fixture import files

    out = []
    for path, content in sorted(files().items()):
        name = "sbom:" + path.rsplit("/", 1)[-1]
        out.append(Target(name, _catalog(path), (content,)))
    return out


def targets() -> dict[str, Target]:
    """Every fuzz target by name."""
    found = [
        Target("bundle", _bundle, _files("bundle")),
        Target("dsse", _dsse, _files("dsse")),
        Target("trusted-root", _trusted_root, _files("trusted-root")),
        Target("checkpoint", _checkpoint, _files("checkpoint")),
        Target("rekor-body", _rekor_body, _files("rekor-body")),
        Target("intoto-statement", _statement, _files("intoto-statement")),
        Target("policy", _policy, (POLICY, ALIAS_BOMB)),
        Target("cel", _cel, CEL),
        Target("sbom-document", _sbom_document, (_json(CYCLONEDX), _json(SPDX))),
        Target("oci-manifest", _oci_manifest, (_json(MANIFEST), _json(INDEX))),
        Target("oci-layout", _oci_layout, (_json(INDEX),)),
        Target("checksums", _checksums, (CHECKSUMS,)),
        Target("osv", _osv, (_json(OSV),)),
        *_sbom_targets(),
    ]
    return {t.name: t for t in found}


class Crash(Exception):
    """A target raised something other than ``AssayError``."""


def check(target: Target, data: bytes) -> None:
    """Run ``target`` on ``data``; raise :class:`Crash` (chained to the real error) on anything but AssayError."""
    try:
        target.run(data)
    except AssayError:
        return
    except Exception as exc:  # the point of the fuzz test: anything else is a bug
        raise Crash(f"{target.name}: {type(exc).__name__}: {exc}"[:500]) from exc
