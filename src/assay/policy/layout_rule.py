"""The ``layout`` rule: the artifact must be a product of a supply chain whose signed layout verifies.

Pure: the signed layout, the layout keys and the links come in already loaded (the loader reads the
layout and keys; the links come as a :class:`assay.layout.verify.LinkStore`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from assay.errors import AssayError
from assay.formats.trustroot import TrustedRoot
from assay.layout.envelope import SignedDoc
from assay.layout.verify import LinkStore, Options, verify_layout
from assay.policy.result import Check, RuleResult


def evaluate_layout(
    name: str,
    sha256: str,
    layout: SignedDoc,
    layout_keys: list[dict[str, Any]],
    links: LinkStore,
    now: datetime,
    *,
    step: str | None = None,
    trust: TrustedRoot | None = None,
    where: str = "layout",
) -> RuleResult:
    """Pass when the layout verifies and ``sha256`` is among the products of ``step`` (default: the last step)."""
    res = RuleResult(name, "layout", "pass")
    try:
        result = verify_layout(layout, layout_keys, links, Options(now, trust), where=where)
    except AssayError as exc:
        res.status, res.reason, res.message = "fail", exc.reason, exc.message
        res.checks.append(Check("layout", "verifies", f"{exc.reason}"))
        return res
    res.checks.append(Check("layout", "verifies", f"{len(result.steps)} step(s) verified"))
    names = [s.name for s in result.steps if s.kind == "step"]
    wanted = step or (names[-1] if names else "")
    outcome = next((s for s in result.steps if s.name == wanted), None)
    if outcome is None:
        res.status, res.reason = "fail", "layout-step-unknown"
        res.message = f"the layout has no step {wanted!r} (steps: {', '.join(names)})"
        return res
    link = result.links.get(wanted)
    products = link.products if link is not None else {}
    hits = sorted(p for p, d in products.items() if d.get("sha256", "").lower() == sha256.lower())
    res.checks.append(Check(f"product of {wanted}", f"sha256:{sha256}", ", ".join(hits) or "not produced"))
    if not hits:
        res.status, res.reason = "fail", "artifact-not-produced"
        res.message = f"sha256:{sha256} is not a product of step {wanted!r} of the verified supply chain"
    return res
