"""The policy use cases: gather materials for each target, evaluate, and sign summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assay.errors import InputError
from assay.policy.evaluate import Evaluation
from assay.policy.model import Policy


@dataclass
class Run:
    policy: Policy
    evaluations: list[Evaluation]
    warnings: list[str] = field(default_factory=list)

    @property
    def blocking(self) -> list[Evaluation]:
        return [ev for ev in self.evaluations if ev.blocking]

    @property
    def not_blocking_failures(self) -> list[Evaluation]:
        return [ev for ev in self.evaluations if ev.matched and not ev.passed and not ev.blocking]


def evaluate_targets(policy_path: str, targets: list[str], bundles: list[str] | None, auth: Any = None) -> Run:
    """Load the policy (refusing a bad one before any fetch), gather each target's materials, evaluate."""
    from assay.oci.reference import is_image_argument
    from assay.policy import loader
    from assay.policy.evaluate import evaluate, name_matches
    from assay.policy.materials import blob_target, image_target

    policy = loader.load(policy_path)
    if bundles and len(targets) != 1:
        raise InputError("usage", "--bundle applies to a single blob target")
    found = [image_target(t, auth) if is_image_argument(t) else blob_target(t, bundles) for t in targets]
    warnings = []
    for kind, patterns in (("blob", policy.blobs), ("image", policy.images)):
        mine = [t for t in found if t.kind == kind]
        for p in patterns:
            if mine and not any(name_matches(p, t) for t in mine):
                warnings.append(
                    f"warning[glob-matches-nothing]: {policy_path}: pattern {p!r} matches none of the {kind} targets"
                )
    return Run(policy, [evaluate(policy, t) for t in found], warnings)


def write_vsas(run: Run, vsa_out: str, vsa_key: str, password_file: str | None) -> list[str]:
    """One signed VSA per evaluation (several targets: VSA_OUT gets a numeric suffix); returns the paths."""
    from assay.attest import vsa
    from assay.service.provenance import write_vsa

    written = []
    for i, ev in enumerate(run.evaluations):
        inputs = [(m.where, m.raw) for r in ev.rules for m in r.inputs]
        levels = vsa.build_level({}, ev.passed and any(r.kind == "provenance" for r in ev.rules))
        out = vsa_out if len(run.evaluations) == 1 else f"{vsa_out}.{i}"
        write_vsa(
            inputs, ev.passed, resource=ev.target.name, sha256=ev.target.sha256, policy_uri=run.policy.path,
            policy_bytes=run.policy.raw, levels=levels, key=vsa_key, password_file=password_file, out=out,
        )  # fmt: skip
        written.append(out)
    return written
