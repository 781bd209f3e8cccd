"""Reproducible builds: do independent builders' products agree bit for bit, and the signed verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assay.layout.model import Artifacts

PREDICATE_REPRODUCIBLE = "https://assay.dev/attestation/reproducible/v1"


@dataclass(frozen=True)
class Build:
    """One builder's claim: who built, from which document, and the product digests."""

    label: str
    builder: str
    products: Artifacts


@dataclass
class Comparison:
    """Per product path, the digest each build reported (None when a build lacks the path)."""

    builds: list[Build]
    digests: dict[str, list[str | None]] = field(default_factory=dict)

    @property
    def differing(self) -> list[str]:
        """Paths on which the builds disagree (or that some build lacks)."""
        return [p for p, ds in self.digests.items() if len(set(ds)) != 1 or None in ds]

    @property
    def reproducible(self) -> bool:
        """True when every build produced the same set of paths with identical digests."""
        return bool(self.digests) and not self.differing


def _sha(d: dict[str, str] | None) -> str | None:
    if not d:
        return None
    return d.get("sha256") or next(iter(sorted(d.items())))[1]


def compare(builds: list[Build]) -> Comparison:
    """Compare the products of two or more builds path by path."""
    paths = sorted({p for b in builds for p in b.products})
    return Comparison(builds, {p: [_sha(b.products.get(p)) for b in builds] for p in paths})


def predicate(comp: Comparison, checked_at: str) -> dict[str, Any]:
    """The ``reproducible/v1`` predicate: the builders, their product digests, the verdict."""
    return {
        "verdict": "reproducible" if comp.reproducible else "differs",
        "checkedAt": checked_at,
        "builders": [
            {
                "id": b.builder,
                "source": b.label,
                "products": {p: {"sha256": _sha(d)} for p, d in sorted(b.products.items())},
            }
            for b in comp.builds
        ],
        "differences": [
            {"name": p, "digests": {b.builder: d for b, d in zip(comp.builds, comp.digests[p], strict=True)}}
            for p in comp.differing
        ],
    }


def subjects(comp: Comparison) -> list[tuple[str, str]]:
    """Statement subjects: the agreeing products (else the first build's, so the statement names something)."""
    agreed = [(p, ds[0]) for p, ds in comp.digests.items() if ds[0] is not None and len(set(ds)) == 1]
    if agreed:
        return agreed
    first = comp.builds[0]
    return [(p, s) for p, d in sorted(first.products.items()) if (s := _sha(d)) is not None]
