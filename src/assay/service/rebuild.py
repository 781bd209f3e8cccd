"""``rebuild-check``: read two builders' links or provenance, compare, explain with diffoscope, sign the verdict."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assay.crypto import keys
from assay.crypto import signer as signers
from assay.errors import InputError, VerificationError
from assay.formats import intoto, safejson
from assay.formats.bundle import parse_bundle
from assay.formats.dsse import Envelope
from assay.layout import envelope
from assay.layout.model import LINK_PREDICATE, parse_artifacts
from assay.layout.reproducible import PREDICATE_REPRODUCIBLE, Build, Comparison, compare, predicate, subjects
from assay.service.io import password, read_file, write_atomic
from assay.sign import blob as sign_blob

DIFFOSCOPE_TIMEOUT = 300
DIFF_LINES = 60


@dataclass(frozen=True)
class RebuildRequest:
    """What ``rebuild-check`` was asked."""

    links: list[str]
    link_keys: list[str]
    artifacts: list[str]
    key: str | None
    attestation: str | None
    password_file: str | None


@dataclass
class RebuildReport:
    """The comparison, explanations of differences, and where the attestation went."""

    comparison: Comparison
    explanations: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    attestation_path: str | None = None

    @property
    def reproducible(self) -> bool:
        """True when the products agree."""
        return self.comparison.reproducible

    def lines(self) -> list[str]:
        """Human-readable report lines."""
        c = self.comparison
        out = [f"builder {b.builder} ({b.label}): {len(b.products)} product(s)" for b in c.builds]
        for p, ds in c.digests.items():
            mark = "same" if p not in c.differing else "DIFF"
            out.append(f"  {mark} {p}: " + " | ".join(d or "absent" for d in ds))
            out.extend("       " + x for x in self.explanations.get(p, []))
        out.extend(f"note: {n}" for n in self.notes)
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON for ``-o json``."""
        doc = predicate(self.comparison, "")
        doc.pop("checkedAt")
        doc["explanations"] = self.explanations
        doc["notes"] = self.notes
        doc["attestation"] = self.attestation_path
        return doc


def _builder_of_provenance(pred: Any) -> str:
    if isinstance(pred, dict):
        rd = pred.get("runDetails") or {}
        b = (rd.get("builder") if isinstance(rd, dict) else None) or pred.get("builder") or {}
        if isinstance(b, dict) and isinstance(b.get("id"), str):
            return str(b["id"])
    return "unknown-builder"


def _check_signature(path: str, sd: envelope.SignedDoc, link_keys: list[keys.PublicKey]) -> str:
    for pub in link_keys:
        kd = envelope.key_dict_from_public(pub)
        ok = (
            envelope.verify_legacy(sd, kd)
            if sd.form != "bundle"
            else any(keys.verify_message(pub, s, sd.message) for _, s in sd.signatures)
        )
        if ok:
            return str(kd["keyid"])
    raise VerificationError("link-signature-invalid", f"{path}: not signed by any --link-key", step="signature")


def load_build(path: str, link_keys: list[keys.PublicKey]) -> Build:
    """A build from a link (any form) or a DSSE/bundle with a provenance statement (subjects = products)."""
    raw = read_file(path, "link or provenance")
    doc = safejson.load_object(raw, what=path)
    env = None
    if str(doc.get("mediaType", "")).startswith("application/vnd.dev.sigstore.bundle"):
        env = parse_bundle(doc).dsse_envelope
    elif "payloadType" in doc:
        env = Envelope.from_json(doc, path)
    if env is not None:
        stmt = safejson.load_object(env.payload, what=f"{path} payload")
        if stmt.get("_type") == intoto.STATEMENT_V1 and stmt.get("predicateType") != LINK_PREDICATE:
            st = intoto.parse_statement(env.payload)
            if link_keys:
                sd = envelope.SignedDoc(
                    "bundle" if "mediaType" in doc else "dsse",
                    {},
                    [(s.keyid, s.sig) for s in env.signatures],
                    env.pae(),
                )
                who = _check_signature(path, sd, link_keys)[:16]
            else:
                who = _builder_of_provenance(st.predicate)
            products = parse_artifacts({s.name: s.digest for s in st.subjects}, path)
            return Build(path, who, products)
    sd = envelope.parse_signed(raw, path)
    if sd.kind != "link":
        raise InputError("link-malformed", f"{path}: not a link")
    link = sd.link(path)
    if link_keys:
        who = _check_signature(path, sd, link_keys)[:16]
    else:
        ids = [k for k, _ in sd.signatures if k]
        who = ids[0][:16] if ids else Path(path).name
    return Build(path, who, link.products)


def _first_difference(a: Path, b: Path) -> str:
    with a.open("rb") as fa, b.open("rb") as fb:
        offset = 0
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                n = min(len(x), len(y))
                i = next((j for j in range(n) if x[j] != y[j]), n)
                return f"first difference at byte {offset + i} (sizes {a.stat().st_size} and {b.stat().st_size})"
            if not x:
                return "identical bytes"
            offset += len(x)


def explain(path: str, dirs: list[str]) -> list[str]:
    """Where two builders' copies of ``path`` differ: diffoscope's text report when installed, else the first byte."""
    a, b = Path(dirs[0]) / path, Path(dirs[1]) / path
    if not (a.is_file() and b.is_file()):
        return [f"not at hand in both --artifacts directories ({a}, {b})"]
    lines = [_first_difference(a, b)]
    tool = shutil.which("diffoscope")
    if tool is None:
        lines.append("diffoscope not installed (apt-get install diffoscope-minimal): no structural diff")
        return lines
    try:
        proc = subprocess.run(
            [tool, "--no-progress", "--text", "-", str(a), str(b)],
            capture_output=True,
            timeout=DIFFOSCOPE_TIMEOUT,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )
    except subprocess.TimeoutExpired:
        return [*lines, f"diffoscope timed out after {DIFFOSCOPE_TIMEOUT}s"]
    text = proc.stdout.decode("utf-8", "replace").splitlines()
    more = f" … ({len(text) - DIFF_LINES} more lines)" if len(text) > DIFF_LINES else ""
    return [*lines, "diffoscope:", *text[:DIFF_LINES], *([more] if more else [])]


def rebuild_check(req: RebuildRequest) -> RebuildReport:
    """Compare the builds; explain differing products; write the signed attestation when asked."""
    if len(req.links) < 2:
        raise InputError("usage", "give at least two --link (one per independent build)")
    if req.artifacts and len(req.artifacts) != len(req.links):
        raise InputError("usage", "give one --artifacts directory per --link, in the same order")
    if bool(req.key) != bool(req.attestation):
        raise InputError("usage", "--attestation and --key go together")
    link_keys = [keys.load_public(Path(k)) for k in req.link_keys]
    builds = [load_build(p, link_keys) for p in req.links]
    report = RebuildReport(compare(builds))
    if not link_keys:
        report.notes.append("link signatures not checked (pass --link-key to check them)")
    if len({b.builder for b in builds}) < len(builds):
        report.notes.append("the same builder appears twice: this is not an independent rebuild")
    for p in report.comparison.differing:
        if len(req.artifacts) >= 2:
            report.explanations[p] = explain(p, req.artifacts)
    if req.key and req.attestation:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        stmt = intoto.Statement(
            tuple(intoto.Subject(n, {"sha256": d}) for n, d in subjects(report.comparison)),
            PREDICATE_REPRODUCIBLE,
            predicate(report.comparison, now),
        )
        bundle = sign_blob.sign_statement(signers.load(req.key, password(req.password_file)), stmt)
        write_atomic(req.attestation, bundle.to_bytes())
        report.attestation_path = req.attestation
    return report
