"""The ``checklist`` rule: the artifact-security checklist's artifact items as one policy rule (pure).

Each item is the rule kind that already checks it — ``image-signed`` a ``signature`` rule, ``image-provenance`` a
``provenance`` rule (or, with no ``sourceRepository``, any verified SLSA provenance attestation), ``image-sbom``
an ``sbom`` rule — under the checklist rule's authorities, so a profile running the checklist continuously gets
the same answers as ``assay checklist --image`` and no weaker path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from assay.policy.model import Rule
from assay.policy.result import Check, RuleResult

SLSA_TYPES = ("https://slsa.dev/provenance/v1", "https://slsa.dev/provenance/v0.2")


def item_rules(rule: Rule) -> list[tuple[str, Rule]]:
    """(item, the rule that checks it) for each item the checklist rule names."""
    base = replace(rule, predicate_types=(), options={})
    out: list[tuple[str, Rule]] = []
    for item in rule.options["items"]:
        name = f"{rule.name}/{item}"
        if item == "image-signed":
            out.append((item, replace(base, name=name, kind="signature")))
        elif item == "image-provenance":
            prov = rule.options["provenance"]
            if prov.get("sourceRepository"):
                sub = replace(base, name=name, kind="provenance", predicate_types=SLSA_TYPES[:1], options=prov)
            else:
                sub = replace(base, name=name, kind="attestation", predicate_types=SLSA_TYPES)
            out.append((item, sub))
        elif item == "image-sbom":
            out.append((item, replace(base, name=name, kind="sbom", predicate_types=rule.options["sbom_types"])))
    return out


def evaluate_checklist(rule: Rule, run: Callable[[Rule], RuleResult]) -> RuleResult:
    """Every item evaluated; the rule passes only when each does, and reports the first that does not."""
    res = RuleResult(rule.name, "checklist", "pass")
    first: tuple[str, RuleResult] | None = None
    for item, sub in item_rules(rule):
        got = run(sub)
        res.checks.append(Check(item, "pass", got.status + (f" ({got.reason})" if got.reason else "")))
        res.checks.extend(got.checks)
        res.inputs.extend(m for m in got.inputs if all(m is not x for x in res.inputs))
        if got.status != "pass" and (first is None or (first[1].status == "error" and got.status == "fail")):
            first = (item, got)
    if first is not None:
        item, got = first
        res.status, res.reason, res.message = got.status, got.reason, f"{item}: {got.message}"
    return res
