"""Layout verification in the in-toto order, over links handed in by the caller.

1. layout signatures (every given key) and expiry; 2. link signatures by authorised functionaries;
3. sublayouts (a functionary's "link" that is itself a layout); 4. thresholds: enough distinct functionaries
whose links agree on materials and products; 5. command alignment (a note, as in the specification);
6. artifact rules of every step; 7. inspections (run by the caller's callback) and their rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from assay.errors import InputError, VerificationError
from assay.layout.envelope import SignedDoc, check_signature
from assay.layout.functionary import distinct_keys, parse_checked, signed_by
from assay.layout.model import Item, Layout, Link
from assay.layout.rules import RuleReport, apply_rules

if TYPE_CHECKING:
    from assay.formats.trustroot import TrustedRoot


class LinkStore(Protocol):
    """Where links come from (a directory, in practice)."""

    def links(self) -> list[tuple[str, SignedDoc]]:
        """Every (file name, signed document) present."""
        ...

    def sub(self, name: str) -> LinkStore:
        """The store of a sublayout's links."""
        ...


InspectionRunner = Callable[[Item], Link]


@dataclass
class StepOutcome:
    """What verification established for one step or inspection."""

    name: str
    kind: str = "step"
    functionaries: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    materials: list[RuleReport] = field(default_factory=list)
    products: list[RuleReport] = field(default_factory=list)
    sublayout: LayoutResult | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON for ``-o json``."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "functionaries": self.functionaries,
            "links": self.links,
            "expected_materials": [r.to_json() for r in self.materials],
            "expected_products": [r.to_json() for r in self.products],
        }
        if self.sublayout is not None:
            out["sublayout"] = self.sublayout.to_json()
        return out


@dataclass
class LayoutResult:
    """A verified supply chain."""

    steps: list[StepOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: Link | None = None
    links: dict[str, Link] = field(default_factory=dict)  # the verified link of every step

    def to_json(self) -> dict[str, Any]:
        """JSON for ``-o json``."""
        return {"verified": True, "steps": [s.to_json() for s in self.steps], "notes": self.notes}


@dataclass
class Options:
    """Verification context: the time, trust for keyless links, the inspection runner."""

    now: datetime
    trust: TrustedRoot | None = None
    run_inspection: InspectionRunner | None = None


def _check_layout_signatures(sd: SignedDoc, layout_keys: list[dict[str, Any]], where: str) -> None:
    if not layout_keys:
        raise InputError("layout-key-required", "give at least one --layout-key")
    if sd.kind != "layout":
        raise InputError("layout-malformed", f"{where}: is a {sd.kind}, not a layout")
    for kd in layout_keys:
        ok, why = check_signature(sd, kd)
        if not ok:
            raise VerificationError(
                "layout-signature-invalid",
                f"{where}: no valid signature by layout key {kd['keyid'][:16]} ({why})",
                step="layout-signature",
            )


def _authorised(sd: SignedDoc, step: Item, layout: Layout, trust: TrustedRoot | None) -> tuple[str | None, list[str]]:
    """The keyid of the authorised functionary who signed ``sd``, else None and the reasons."""
    why = []
    for keyid in step.pubkeys:
        ok, how = signed_by(sd, layout.keys[keyid], trust)
        if ok:
            return keyid, []
        why.append(f"{keyid[:8]}: {how}")
    return None, why


def _sig_keyids(sd: SignedDoc) -> str:
    ids = [k[:16] for k, _ in sd.signatures if k]
    return ", ".join(ids) if ids else "(no key id)"


def _diff(a: Link, b: Link) -> str:
    out = []
    for kind in ("materials", "products"):
        x, y = getattr(a, kind), getattr(b, kind)
        for p in sorted(set(x) | set(y)):
            if x.get(p) != y.get(p):
                out.append(
                    f"{kind[:-1]} {p}: {x.get(p, {}).get('sha256', 'absent')} vs {y.get(p, {}).get('sha256', 'absent')}"
                )
    return "; ".join(out[:5]) + (" …" if len(out) > 5 else "")


def _sublayout_step(fname: str) -> str:
    """The step a sublayout file stands for: ``STEP.KEYID8.link`` (or ``.sigstore.json``) -> ``STEP``."""
    for suffix in (".link.sigstore.json", ".sigstore.json", ".link"):
        if fname.endswith(suffix):
            fname = fname[: -len(suffix)]
            break
    return fname.rsplit(".", 1)[0] if "." in fname else fname


def _step_links(
    layout: Layout, store: LinkStore, opts: Options, result: LayoutResult, depth: int
) -> tuple[dict[str, Link], dict[str, StepOutcome]]:
    by_step: dict[str, list[tuple[str, SignedDoc]]] = {s.name: [] for s in layout.steps}
    for fname, sd in store.links():
        name = sd.document.get("name") if sd.kind == "link" else _sublayout_step(fname)
        if name not in by_step:
            claimed = [s for s in by_step if fname.startswith(s + ".")]
            if claimed and not fname.startswith(f"{name}."):  # filed as a layout step's link, signed for another
                raise InputError(
                    "link-for-unknown-step",
                    f"{fname}: named as a link of step {claimed[0]!r} but a {sd.kind} for step {name!r}, "
                    "which the layout does not have",
                )
            # as in-toto-verify: links of steps the layout does not name play no part in it
            result.notes.append(f"{fname}: a {sd.kind} for step {name!r}, which the layout does not name; ignored")
            continue
        by_step[str(name)].append((fname, sd))
    chain: dict[str, Link] = {}
    outcomes: dict[str, StepOutcome] = {}
    for step in layout.steps:
        out = StepOutcome(step.name)
        content = distinct_keys(layout, step.pubkeys)  # keyid -> key content: one key under two ids counts once
        verified: dict[str, tuple[str, Link]] = {}  # by key content
        first_id: dict[str, str] = {}  # key content -> the key id it was first verified under
        rejected: list[str] = []
        for fname, sd in sorted(by_step[step.name], key=lambda pair: pair[0]):
            signer, why = _authorised(sd, step, layout, opts.trust)
            if signer is None:
                rejected.append(f"{fname} (signed by {_sig_keyids(sd)}; {'; '.join(why)})")
                continue
            key = content[signer]
            keyid = first_id.setdefault(key, signer)
            if key in verified:
                first_file, first = verified[key]
                other = sd.link(fname) if sd.kind == "link" else None
                if other is None or (other.materials, other.products) != (first.materials, first.products):
                    raise VerificationError(
                        "functionary-links-conflict",
                        f"step {step.name!r}: {first_file} and {fname} are both by {keyid[:8]} and record different "
                        "artifacts",
                        step=step.name,
                    )
                also = f" (listed again as {signer[:8]})" if signer != keyid else ""
                result.notes.append(f"step {step.name!r}: {fname} is a second link by {keyid[:8]}{also}; counted once")
                continue
            if sd.kind == "layout":
                sub = _verify(sd, [layout.keys[keyid]], store.sub(f"{step.name}.{keyid[:8]}"), opts, depth + 1, fname)
                out.sublayout = sub
                assert sub.summary is not None
                link = Link(step.name, [], sub.summary.materials, sub.summary.products)
            else:
                link = sd.link(fname)
                if link.name != step.name:
                    raise VerificationError(
                        "link-name-mismatch", f"{fname}: records step {link.name!r}", step=step.name
                    )
            verified[key] = (fname, link)
        if len(verified) < step.threshold:
            reason = "link-missing" if not verified and not rejected else "threshold-not-met"
            if rejected and not verified:
                reason = "link-signer-not-authorised"
            detail = f"; rejected: {'; '.join(rejected)}" if rejected else ""
            raise VerificationError(
                reason,
                f"step {step.name!r} needs links from {step.threshold} distinct authorised functionaries, "
                f"found {len(verified)}{detail}",
                step=step.name,
            )
        for r in rejected:
            result.notes.append(f"step {step.name!r}: ignored {r}")
        items = list(verified.items())
        ref_file, ref = items[0][1]
        for _keyid, (fname, link) in items[1:]:
            if link.materials != ref.materials or link.products != ref.products:
                raise VerificationError(
                    "threshold-links-disagree",
                    f"step {step.name!r}: {ref_file} and {fname} record different artifacts: {_diff(ref, link)}",
                    step=step.name,
                )
        if step.expected_command and ref.command and ref.command != step.expected_command:
            result.notes.append(
                f"step {step.name!r}: command {' '.join(ref.command)!r} differs from the expected "
                f"{' '.join(step.expected_command)!r} (a warning, as in the in-toto specification)"
            )
        out.functionaries = [first_id[k] for k, _ in items]
        out.links = [f for _, (f, _l) in items]
        chain[step.name] = ref
        outcomes[step.name] = out
    return chain, outcomes


def _verify(
    sd: SignedDoc,
    layout_keys: list[dict[str, Any]],
    store: LinkStore,
    opts: Options,
    depth: int,
    where: str,
    locations: dict[Any, str] | None = None,
) -> LayoutResult:
    if depth > 8:
        raise InputError("sublayout-too-deep", f"{where}: sublayouts nest more than 8 levels")
    _check_layout_signatures(sd, layout_keys, where)
    layout = parse_checked(sd.document, where)
    layout.locations = locations or {}
    if layout.expires_at() <= opts.now:
        raise VerificationError("layout-expired", f"{where}: the layout expired at {layout.expires}", step="expiry")
    result = LayoutResult()
    chain, outcomes = _step_links(layout, store, opts, result, depth)
    result.links = dict(chain)
    for step in layout.steps:
        o = outcomes[step.name]
        o.materials = apply_rules(step, "materials", chain[step.name], chain, layout.locations)
        o.products = apply_rules(step, "products", chain[step.name], chain, layout.locations)
        result.steps.append(o)
    if layout.inspections:
        if opts.run_inspection is None:
            raise InputError(
                "inspections-not-enabled",
                f"{where}: the layout has inspections ({', '.join(i.name for i in layout.inspections)})",
                hint="pass --run-inspections to let the verifier run their commands",
            )
        inspected: dict[str, Link] = {}
        for insp in layout.inspections:
            inspected[insp.name] = opts.run_inspection(insp)
        full = {**chain, **inspected}
        for insp in layout.inspections:
            o = StepOutcome(insp.name, "inspection")
            o.materials = apply_rules(insp, "materials", full[insp.name], full, layout.locations)
            o.products = apply_rules(insp, "products", full[insp.name], full, layout.locations)
            result.steps.append(o)
    if layout.steps:
        result.summary = Link(
            "summary", [], chain[layout.steps[0].name].materials, chain[layout.steps[-1].name].products
        )
    else:
        result.summary = Link("summary")
    return result


def verify_layout(
    sd: SignedDoc,
    layout_keys: list[dict[str, Any]],
    store: LinkStore,
    opts: Options,
    *,
    where: str = "layout",
    locations: dict[Any, str] | None = None,
) -> LayoutResult:
    """Verify a signed layout and its links; raise ``VerificationError`` (exit 1) or ``InputError`` (exit 2)."""
    return _verify(sd, layout_keys, store, opts, 0, where, locations)
