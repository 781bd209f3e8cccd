"""Artifact rules (MATCH, CREATE, DELETE, MODIFY, ALLOW, DISALLOW, REQUIRE) and their queue semantics.

Each rule consumes artifacts from the queue of a step's materials or products, in order, as the in-toto
specification describes; DISALLOW fails on anything still queued that matches, REQUIRE on an absent path.
Unlike the reference implementation, every rule records what it consumed, and a MATCH that found the
artifact with a different digest (or not at all) is remembered so a later failure can say why.
"""

from __future__ import annotations

import fnmatch
import operator
import posixpath
from dataclasses import dataclass, field
from functools import cached_property
from itertools import compress
from typing import Any

from assay.errors import InputError, VerificationError
from assay.layout.model import Artifacts, Item, Link

KEYWORDS = ("MATCH", "CREATE", "DELETE", "MODIFY", "ALLOW", "DISALLOW", "REQUIRE")


@dataclass(frozen=True)
class Rule:
    """One parsed rule."""

    kind: str
    pattern: str
    source_prefix: str = ""
    dest_type: str = ""
    dest_prefix: str = ""
    dest_name: str = ""

    def text(self) -> str:
        """The rule as written in the in-toto layout."""
        if self.kind != "MATCH":
            return f"{self.kind} {self.pattern}"
        src = f" IN {self.source_prefix}" if self.source_prefix else ""
        dst = f" IN {self.dest_prefix}" if self.dest_prefix else ""
        return f"MATCH {self.pattern}{src} WITH {self.dest_type.upper()}{dst} FROM {self.dest_name}"


def parse_rule(words: list[str], where: str) -> Rule:
    """Parse a rule given as words; ``where`` (file:line or a JSON path) is cited on error."""
    if not words:
        raise InputError("rule-invalid", f"{where}: empty artifact rule")
    kind = words[0].upper()
    if kind not in KEYWORDS:
        raise InputError(
            "rule-unknown-keyword", f"{where}: unknown rule keyword {words[0]!r}; expected one of {', '.join(KEYWORDS)}"
        )
    if kind != "MATCH":
        if len(words) != 2:
            raise InputError("rule-invalid", f"{where}: '{' '.join(words)}': {kind} takes exactly one pattern")
        return Rule(kind, words[1])
    w = list(words[1:])
    up = [x.upper() for x in w]
    # MATCH <pattern> [IN <src>] WITH (MATERIALS|PRODUCTS) [IN <dst>] FROM <step>
    src = dst = ""
    try:
        pattern = w[0]
        i = 1
        if up[i] == "IN":
            src, i = w[i + 1], i + 2
        if up[i] != "WITH":
            raise IndexError
        dest_type = up[i + 1].lower()
        if dest_type not in ("materials", "products"):
            raise IndexError
        i += 2
        if up[i] == "IN":
            dst, i = w[i + 1], i + 2
        if up[i] != "FROM" or i + 2 != len(w):
            raise IndexError
        name = w[i + 1]
    except IndexError:
        raise InputError(
            "rule-invalid",
            f"{where}: '{' '.join(words)}' does not parse; expected "
            "MATCH <pattern> [IN <prefix>] WITH (MATERIALS|PRODUCTS) [IN <prefix>] FROM <step>",
        ) from None
    return Rule("MATCH", pattern, src, dest_type, dst, name)


@dataclass
class RuleReport:
    """What one rule did: the artifacts it consumed and those left in the queue."""

    rule: str
    location: str
    consumed_paths: set[str] = field(default_factory=set)
    remaining: int = 0

    @cached_property
    def consumed(self) -> list[str]:
        """The consumed paths in order (sorted when first asked for: the text report only counts them)."""
        return sorted(self.consumed_paths)

    @property
    def count(self) -> int:
        """How many artifacts the rule consumed."""
        return len(self.consumed_paths)

    def to_json(self) -> dict[str, Any]:
        """JSON for ``-o json``."""
        return {"rule": self.rule, "location": self.location, "consumed": self.consumed, "remaining": self.remaining}


def _filter(names: list[str] | set[str], pattern: str) -> list[str]:
    """fnmatch.filter, with ``*`` (which matches every path, ``/`` included) answered directly."""
    return list(names) if pattern == "*" else fnmatch.filter(names, pattern)


def _join(prefix: str, path: str) -> str:
    return posixpath.join(prefix, path) if prefix else path


def _digest_text(d: dict[str, str] | None) -> str:
    if not d:
        return "absent"
    return ", ".join(f"{k}:{v}" for k, v in sorted(d.items()))


def _match(rule: Rule, queue: set[str], source: Artifacts, links: dict[str, Link], misses: dict[str, str]) -> set[str]:
    dest_link = links.get(rule.dest_name)
    if dest_link is None:
        for p in _filter(queue, rule.pattern):
            misses.setdefault(p, f"MATCH found no link for step {rule.dest_name!r}")
        return set()
    dest: Artifacts = getattr(dest_link, rule.dest_type)
    if rule.source_prefix:
        norm = posixpath.join(rule.source_prefix, "")
        candidates = [p[len(norm) :] for p in queue if p.startswith(norm)]
    else:
        candidates = list(queue)
    matched = _filter(candidates, rule.pattern)
    if not rule.source_prefix and not rule.dest_prefix:  # the common case, without per-path joins
        # same digests here and there (a path absent there gives None, never equal); iterated by C builtins
        consumed = set(compress(matched, map(operator.eq, map(source.__getitem__, matched), map(dest.get, matched))))
        if len(consumed) == len(matched):
            return consumed
    else:
        consumed = set()
    for rel in matched:
        src_path = _join(rule.source_prefix, rel)
        if src_path in consumed:
            continue
        dst_path = _join(rule.dest_prefix, rel)
        theirs = dest.get(dst_path)
        if theirs is not None and theirs == source[src_path]:
            consumed.add(src_path)
        else:
            misses[src_path] = (
                f"{src_path}: {_digest_text(source[src_path])} here, {_digest_text(theirs)} as {dst_path} "
                f"in the {rule.dest_type} of {rule.dest_name!r} ({rule.text()})"
            )
    return consumed


def apply_rules(
    item: Item, kind: str, link: Link, links: dict[str, Link], locations: dict[Any, str]
) -> list[RuleReport]:
    """Apply ``item``'s expected_``kind`` rules to ``link``; raise ``VerificationError`` on DISALLOW/REQUIRE."""
    rules = item.expected_materials if kind == "materials" else item.expected_products
    artifacts: Artifacts = link.materials if kind == "materials" else link.products
    materials, products = link.materials, link.products
    queue = set(artifacts)
    misses: dict[str, str] = {}
    reports: list[RuleReport] = []
    what = "inspection" if item.is_inspection else "step"
    for idx, words in enumerate(rules):
        where = locations.get((item.name, kind, idx)) or f"{item.name}.expected_{kind}[{idx}]"
        rule = parse_rule(words, where)
        if rule.kind == "MATCH":
            consumed = _match(rule, queue, artifacts, links, misses)
        elif rule.kind == "CREATE":
            consumed = set(_filter(queue, rule.pattern)) & (set(products) - set(materials))
        elif rule.kind == "DELETE":
            consumed = set(_filter(queue, rule.pattern)) & (set(materials) - set(products))
        elif rule.kind == "MODIFY":
            both = list(materials.keys() & products.keys() & set(_filter(queue, rule.pattern)))
            changed = map(operator.ne, map(materials.__getitem__, both), map(products.__getitem__, both))
            consumed = set(compress(both, changed))
        elif rule.kind == "ALLOW":
            consumed = set(_filter(queue, rule.pattern))
        elif rule.kind == "DISALLOW":
            bad = sorted(_filter(queue, rule.pattern))
            if bad:
                why = [misses[p] for p in bad if p in misses]
                detail = ("; " + "; ".join(why[:5])) if why else ""
                raise VerificationError(
                    "disallowed-artifact",
                    f"{what} {item.name!r}, expected_{kind} rule '{rule.text()}' at {where}: "
                    f"{len(bad)} artifact(s) not accounted for by earlier rules: {', '.join(bad[:10])}"
                    f"{' …' if len(bad) > 10 else ''}{detail}",
                    step=item.name,
                )
            consumed = set()
        else:  # REQUIRE: an exact path, as in the reference implementation
            if rule.pattern not in queue:
                raise VerificationError(
                    "required-artifact-missing",
                    f"{what} {item.name!r}, expected_{kind} rule '{rule.text()}' at {where}: "
                    f"{rule.pattern} is not among the {kind} still queued",
                    step=item.name,
                )
            consumed = set()
        queue -= consumed
        reports.append(RuleReport(rule.text(), where, consumed, len(queue)))
    return reports


def check_rules(item: Item, locations: dict[Any, str]) -> None:
    """Parse every rule of ``item`` (fails with file:line on a bad one)."""
    for kind, rules in (("materials", item.expected_materials), ("products", item.expected_products)):
        for idx, words in enumerate(rules):
            parse_rule(words, locations.get((item.name, kind, idx)) or f"{item.name}.expected_{kind}[{idx}]")
