"""The YAML layout a person writes, converted to the in-toto layout document that gets signed.

Rules are written as one string each (``MATCH src/* WITH PRODUCTS FROM checkout``); functionaries by
name, each a public key (PEM inline or a file the caller resolves) or a keyless identity (issuer +
subject or regexp + Fulcio claims, as in the policy language). Every rule keeps the line it was written
on so verification failures can cite ``file:line``.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import yaml

from assay.crypto import keys
from assay.errors import InputError
from assay.formats import safeyaml
from assay.layout.envelope import key_dict_from_public, keyless_key_dict
from assay.layout.functionary import parse_checked
from assay.layout.model import Layout, parse_expires
from assay.layout.rules import check_rules

TOP_KEYS = {"expires", "readme", "functionaries", "steps", "inspections"}
STEP_KEYS = {"name", "functionaries", "threshold", "expected_command", "expected_materials", "expected_products"}
INSPECTION_KEYS = {"name", "run", "expected_materials", "expected_products"}
FUNCTIONARY_KEYS = {"key", "public_key", "issuer", "issuer_regexp", "subject", "subject_regexp", "claims"}

KeyLoader = Callable[[str], keys.PublicKey]


def _get(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _line(filename: str, node: yaml.Node | None) -> str:
    return f"{filename}:{node.start_mark.line + 1}" if node is not None else filename


def _check_keys(data: Any, node: yaml.Node, allowed: set[str], filename: str, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InputError("layout-malformed", f"{_line(filename, node)}: {what} must be a mapping")
    for k in data:
        if k not in allowed:
            raise InputError(
                "layout-unknown-field",
                f"{_line(filename, _get(node, str(k)))}: unknown field {k!r} in {what}; expected one of {sorted(allowed)}",
            )
    return data


def _words(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise InputError("rule-invalid", f"{where}: {exc}") from None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InputError("layout-malformed", f"{where}: expected a string or a list of strings")


def _expires(value: Any, where: str) -> str:
    if isinstance(value, datetime):
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        return str(value.strftime("%Y-%m-%dT%H:%M:%SZ"))
    parse_expires(value, where)
    return str(value)


def _functionary(name: str, data: Any, node: yaml.Node, filename: str, load_key: KeyLoader) -> dict[str, Any]:
    f = _check_keys(data, node, FUNCTIONARY_KEYS, filename, f"functionary {name!r}")
    where = _line(filename, node)
    if "public_key" in f:
        return key_dict_from_public(keys.parse_public(str(f["public_key"]).encode(), where))
    if "key" in f:
        return key_dict_from_public(load_key(str(f["key"])))
    if not (f.get("issuer") or f.get("issuer_regexp")) or not (f.get("subject") or f.get("subject_regexp")):
        raise InputError(
            "functionary-incomplete",
            f"{where}: functionary {name!r} needs a key, or an issuer (or issuer_regexp) and a subject (or subject_regexp)",
        )
    claims = f.get("claims") or {}
    if not isinstance(claims, dict):
        raise InputError("layout-malformed", f"{where}: claims must be a mapping")
    from assay.verify.identity import claim_name

    return keyless_key_dict(
        f.get("issuer"),
        f.get("subject"),
        issuer_regexp=f.get("issuer_regexp"),
        subject_regexp=f.get("subject_regexp"),
        claims={claim_name(str(k)): str(v) for k, v in claims.items()},
    )


def _rules(data: dict[str, Any], node: yaml.Node, field: str, filename: str) -> tuple[list[list[str]], list[str]]:
    raw = data.get(field) or []
    seq = _get(node, field)
    if not isinstance(raw, list):
        raise InputError("layout-malformed", f"{_line(filename, seq)}: {field} must be a list of rules")
    out, where = [], []
    for i, r in enumerate(raw):
        rnode = seq.value[i] if isinstance(seq, yaml.SequenceNode) else None
        w = _line(filename, rnode)
        out.append(_words(r, w))
        where.append(w)
    return out, where


def convert(text: str, filename: str, load_key: KeyLoader) -> tuple[dict[str, Any], Layout]:
    """YAML layout text -> (in-toto layout document, parsed layout with rule locations)."""
    nodes = safeyaml.compose_all(text, what=filename)
    if len(nodes) != 1:
        raise InputError("layout-malformed", f"{filename}: expected one YAML document")
    root = nodes[0]
    data = _check_keys(safeyaml.load(text, what=filename), root, TOP_KEYS, filename, "the layout")
    fnode = _get(root, "functionaries")
    funcs = data.get("functionaries") or {}
    if not isinstance(funcs, dict):
        raise InputError("layout-malformed", f"{_line(filename, fnode)}: functionaries must be a mapping")
    assert fnode is not None or not funcs
    by_name = {
        str(n): _functionary(str(n), f, _get(fnode, str(n)) or root, filename, load_key) for n, f in funcs.items()
    }
    keys_doc = {kd["keyid"]: kd for kd in by_name.values()}
    locations: dict[tuple[str, str, int], str] = {}
    doc: dict[str, Any] = {
        "_type": "layout",
        "expires": _expires(data.get("expires"), _line(filename, _get(root, "expires"))),
        "readme": str(data.get("readme") or ""),
        "keys": keys_doc,
        "steps": [],
        "inspect": [],
    }
    for field, allowed in (("steps", STEP_KEYS), ("inspections", INSPECTION_KEYS)):
        seq = _get(root, field)
        items = data.get(field) or []
        if not isinstance(items, list):
            raise InputError("layout-malformed", f"{_line(filename, seq)}: {field} must be a list")
        for i, raw in enumerate(items):
            inode = seq.value[i] if isinstance(seq, yaml.SequenceNode) else root
            s = _check_keys(raw, inode, allowed, filename, field[:-1])
            name = s.get("name")
            if not isinstance(name, str) or not name:
                raise InputError("layout-malformed", f"{_line(filename, inode)}: a {field[:-1]} needs a name")
            mats, mwhere = _rules(s, inode, "expected_materials", filename)
            prods, pwhere = _rules(s, inode, "expected_products", filename)
            for kind, wl in (("materials", mwhere), ("products", pwhere)):
                for j, w in enumerate(wl):
                    locations[(name, kind, j)] = w
            out: dict[str, Any] = {"name": name, "expected_materials": mats, "expected_products": prods}
            if field == "steps":
                names = s.get("functionaries") or []
                if not isinstance(names, list):
                    raise InputError("layout-malformed", f"{_line(filename, inode)}: functionaries must be a list")
                unknown = [n for n in names if n not in by_name]
                if unknown:
                    raise InputError(
                        "unknown-functionary",
                        f"{_line(filename, _get(inode, 'functionaries'))}: step {name!r} names unknown functionaries {unknown}",
                    )
                out.update(
                    _type="step",
                    pubkeys=[by_name[n]["keyid"] for n in names],
                    expected_command=_words(s.get("expected_command") or [], _line(filename, inode)),
                    threshold=s.get("threshold", 1),
                )
                doc["steps"].append(out)
            else:
                out.update(_type="inspection", run=_words(s.get("run") or [], _line(filename, inode)))
                doc["inspect"].append(out)
    try:
        layout = parse_checked(doc, filename)
    except InputError as exc:
        raise InputError(exc.reason, exc.message) from None
    layout.locations = locations
    for item in [*layout.steps, *layout.inspections]:
        check_rules(item, locations)
    return doc, layout


def json_locations(text: str, filename: str) -> dict[tuple[str, str, int], str]:
    """Rule locations in a JSON layout file (a Metablock or a DSSE envelope's raw layout), best effort."""
    try:
        nodes = safeyaml.compose_all(text, what=filename)
    except InputError:
        return {}
    if len(nodes) != 1:
        return {}
    root = _get(nodes[0], "signed") or nodes[0]
    out: dict[tuple[str, str, int], str] = {}
    for field in ("steps", "inspect"):
        seq = _get(root, field)
        if not isinstance(seq, yaml.SequenceNode):
            continue
        for item in seq.value:
            name = _get(item, "name")
            if not isinstance(name, yaml.ScalarNode):
                continue
            for kind in ("materials", "products"):
                rules = _get(item, f"expected_{kind}")
                if isinstance(rules, yaml.SequenceNode):
                    for j, r in enumerate(rules.value):
                        out[(name.value, kind, j)] = _line(filename, r)
    return out


def template(expires: str, functionaries: dict[str, str]) -> str:
    """A starting YAML layout: a checkout, build and package chain with the given key files."""
    names = list(functionaries) or ["alice"]
    first = names[0]
    lines = [
        "# assay layout: signed with `assay layout sign`, checked with `assay verify-layout`",
        f'expires: "{expires}"',
        'readme: "describe your supply chain here"',
        "functionaries:",
    ]
    for n in names:
        lines.append(f"  {n}:")
        lines.append(f"    key: {functionaries.get(n, n + '.pub')}")
    lines += [
        "  # ci:                       # a keyless functionary: an OIDC identity instead of a key",
        "  #   issuer: https://token.actions.githubusercontent.com",
        "  #   subject_regexp: https://github.com/ORG/REPO/.*",
        "  #   claims: {githubWorkflowRepository: ORG/REPO}",
        "steps:",
        "  - name: checkout",
        f"    functionaries: [{first}]",
        "    expected_products:",
        '      - "CREATE *"',
        "  - name: build",
        f"    functionaries: [{first}]",
        "    threshold: 1",
        "    expected_command: make",
        "    expected_materials:",
        '      - "MATCH * WITH PRODUCTS FROM checkout"',
        '      - "DISALLOW *"',
        "    expected_products:",
        '      - "CREATE dist/*"',
        '      - "ALLOW *"',
        "inspections: []",
        "",
    ]
    return "\n".join(lines)
