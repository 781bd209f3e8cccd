"""in-toto link and layout documents (the reference implementation's ``signed`` part) and their parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from assay.errors import InputError

LINK_PREDICATE = "https://in-toto.io/attestation/link/v0.3"
EXPIRES_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z\Z", re.ASCII)
HEX_RE = re.compile(r"[0-9a-fA-F]+\Z")
_HEX_DIGITS = b"0123456789abcdefABCDEF"

Artifacts = dict[str, dict[str, str]]


def parse_expires(value: Any, where: str) -> datetime:
    """A layout's ``expires`` (``YYYY-MM-DDTHH:MM:SSZ``, a real UTC date and time) as an aware datetime."""
    if value is None:
        raise InputError(
            "layout-malformed",
            f"{where}: the layout has no expires; the in-toto specification requires every layout to expire "
            "(add expires: YYYY-MM-DDTHH:MM:SSZ)",
        )
    m = EXPIRES_RE.match(value) if isinstance(value, str) else None
    if m is None:
        raise InputError("layout-malformed", f"{where}: expires {value!r} is not YYYY-MM-DDTHH:MM:SSZ")
    try:
        year, month, day, hour, minute, second = (int(g) for g in m.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:  # February 30, month 13, hour 25, second 60
        raise InputError(
            "layout-malformed", f"{where}: expires {value!r} is not a real date and time ({exc})"
        ) from None


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError("layout-malformed", f"{where}: expected an object")
    return value


def _strs(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError("layout-malformed", f"{where}: expected a list of strings")
    return list(value)


def parse_artifacts(value: Any, where: str) -> Artifacts:
    """Validate a ``{path: {algorithm: hex}}`` map (returned as is: digests compare exactly, as in in-toto)."""
    value = _obj(value if value is not None else {}, where)
    # the common case with C builtins only: every entry an object of non-empty hex strings
    if not value:
        return value  # type: ignore[no-any-return]
    if set(map(type, value.values())) == {dict}:
        hexes = list(chain.from_iterable(map(dict.values, value.values())))
        if hexes and set(map(type, hexes)) == {str} and all(hexes):
            joined = "".join(hexes)  # hex digits only: nothing is left once they are deleted
            if joined.isascii() and not joined.encode().translate(None, _HEX_DIGITS):
                return value  # type: ignore[no-any-return]
    match = HEX_RE.match
    for path, digests in value.items():
        if type(digests) is not dict:
            raise InputError("link-malformed", f"{where}[{path!r}]: expected an object of digests")
        for alg, hexval in digests.items():
            if type(hexval) is not str or match(hexval) is None:
                raise InputError("link-malformed", f"{where}[{path!r}].{alg}: not a hex digest")
    return value  # type: ignore[no-any-return]


@dataclass
class Link:
    """What a functionary recorded for one step: command, materials before, products after, byproducts."""

    name: str
    command: list[str] = field(default_factory=list)
    materials: Artifacts = field(default_factory=dict)
    products: Artifacts = field(default_factory=dict)
    byproducts: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The reference implementation's link document (``_type: link``)."""
        return {
            "_type": "link",
            "byproducts": self.byproducts,
            "command": self.command,
            "environment": self.environment,
            "materials": self.materials,
            "name": self.name,
            "products": self.products,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any], where: str = "link") -> Link:
        """Parse a ``_type: link`` document."""
        if doc.get("_type") != "link":
            raise InputError("link-malformed", f"{where}: _type is {doc.get('_type')!r}, expected 'link'")
        name = doc.get("name")
        if not isinstance(name, str) or not name:
            raise InputError("link-malformed", f"{where}: missing step name")
        byproducts = doc.get("byproducts") or {}
        environment = doc.get("environment") or {}
        return cls(
            name,
            _strs(doc.get("command") or [], f"{where}.command"),
            parse_artifacts(doc.get("materials"), f"{where}.materials"),
            parse_artifacts(doc.get("products"), f"{where}.products"),
            _obj(byproducts, f"{where}.byproducts"),
            _obj(environment, f"{where}.environment"),
        )

    def to_predicate(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """(subjects, predicate) of the link predicate v0.3: products become the statement's subjects."""
        subjects = [{"name": p, "digest": dict(d)} for p, d in sorted(self.products.items())]
        predicate = {
            "name": self.name,
            "command": self.command,
            "materials": [{"name": p, "digest": dict(d)} for p, d in sorted(self.materials.items())],
            "byproducts": self.byproducts,
            "environment": self.environment,
        }
        return subjects, predicate

    @classmethod
    def from_statement(cls, subjects: Any, predicate: Any, where: str = "link statement") -> Link:
        """Parse a Statement carrying the link predicate v0.3 (products = subjects)."""
        p = _obj(predicate, f"{where}.predicate")

        def descriptors(items: Any, what: str) -> Artifacts:
            if not isinstance(items, list):
                raise InputError("link-malformed", f"{where}.{what}: expected a list")
            return parse_artifacts({_obj(i, what).get("name", ""): _obj(i, what).get("digest") for i in items}, what)

        products = descriptors(subjects, "subject")
        products.pop("", None)
        name = p.get("name")
        if not isinstance(name, str) or not name:
            raise InputError("link-malformed", f"{where}: predicate has no step name")
        return cls(
            name,
            _strs(p.get("command") or [], f"{where}.command"),
            descriptors(p.get("materials") or [], "materials"),
            products,
            _obj(p.get("byproducts") or {}, f"{where}.byproducts"),
            _obj(p.get("environment") or {}, f"{where}.environment"),
        )


@dataclass
class Item:
    """A step or an inspection: its rules (raw lists of words) and where each rule was written."""

    name: str
    expected_materials: list[list[str]]
    expected_products: list[list[str]]
    pubkeys: list[str] = field(default_factory=list)
    threshold: int = 1
    expected_command: list[str] = field(default_factory=list)
    run: list[str] = field(default_factory=list)
    is_inspection: bool = False


@dataclass
class Layout:
    """A parsed ``_type: layout`` document."""

    expires: str
    keys: dict[str, dict[str, Any]]
    steps: list[Item]
    inspections: list[Item]
    readme: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    # (item name, "materials"|"products", rule index) -> "file:line", filled in by whoever read the file
    locations: dict[tuple[str, str, int], str] = field(default_factory=dict)

    def expires_at(self) -> datetime:
        """Expiry as an aware datetime."""
        return parse_expires(self.expires, "layout.expires")

    def step(self, name: str) -> Item | None:
        """The step called ``name``."""
        return next((s for s in self.steps if s.name == name), None)


def _rules(value: Any, where: str) -> list[list[str]]:
    if not isinstance(value, list):
        raise InputError("layout-malformed", f"{where}: expected a list of rules")
    return [_strs(r, f"{where}[{i}]") for i, r in enumerate(value)]


def parse_layout(doc: dict[str, Any], where: str = "layout") -> Layout:
    """Parse and check a ``_type: layout`` document (names unique, thresholds reachable, expiry format)."""
    if doc.get("_type") != "layout":
        raise InputError("layout-malformed", f"{where}: _type is {doc.get('_type')!r}, expected 'layout'")
    expires = doc.get("expires")
    parse_expires(expires, f"{where}.expires")
    assert isinstance(expires, str)
    keys = {str(k): _obj(v, f"{where}.keys[{k}]") for k, v in _obj(doc.get("keys") or {}, f"{where}.keys").items()}
    for k, v in keys.items():  # the entry is named by its key in the map (in-toto's rule); checked, not trusted
        if v.get("keyid", k) != k:
            raise InputError("layout-malformed", f"{where}.keys[{k}]: names key id {v.get('keyid')!r}")
        if "keyid" not in v:
            keys[k] = {**v, "keyid": k}
    seen: set[str] = set()
    steps: list[Item] = []
    inspections: list[Item] = []
    for kind, raw_list in (("steps", doc.get("steps") or []), ("inspect", doc.get("inspect") or [])):
        if not isinstance(raw_list, list):
            raise InputError("layout-malformed", f"{where}.{kind}: expected a list")
        for i, raw in enumerate(raw_list):
            w = f"{where}.{kind}[{i}]"
            s = _obj(raw, w)
            name = s.get("name")
            if not isinstance(name, str) or not name:
                raise InputError("layout-malformed", f"{w}: missing name")
            if name in seen:
                raise InputError("duplicate-step-name", f"{w}: the name {name!r} is used twice")
            seen.add(name)
            threshold = s.get("threshold", 1)
            if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
                raise InputError("layout-malformed", f"{w}.threshold: expected a positive integer")
            pubkeys = _strs(s.get("pubkeys") or [], f"{w}.pubkeys")
            item = Item(
                name,
                _rules(s.get("expected_materials") or [], f"{w}.expected_materials"),
                _rules(s.get("expected_products") or [], f"{w}.expected_products"),
                pubkeys,
                threshold,
                _strs(s.get("expected_command") or [], f"{w}.expected_command"),
                _strs(s.get("run") or [], f"{w}.run"),
                kind == "inspect",
            )
            if kind == "steps":
                if threshold > len(set(pubkeys)):
                    raise InputError(
                        "threshold-above-functionaries",
                        f"{w}: step {name!r} has threshold {threshold} but only {len(set(pubkeys))} functionaries",
                    )
                unknown = [k for k in pubkeys if k not in keys]
                if unknown:
                    raise InputError(
                        "unknown-functionary", f"{w}: step {name!r} names keys not in the layout: {unknown}"
                    )
                steps.append(item)
            else:
                inspections.append(item)
    readme = doc.get("readme", "")
    return Layout(expires, keys, steps, inspections, readme if isinstance(readme, str) else "", doc)
