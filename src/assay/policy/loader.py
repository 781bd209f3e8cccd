"""Compiling a policy document: YAML or JSON, schema-checked, every regexp and CEL program compiled —
all before evaluation. Errors name the file and line (``error[policy-...]``).

Pure, in two phases around the I/O the service layer does: :func:`parse` checks the document's bytes and
lists what it names outside itself (:meth:`Source.key_refs`, :attr:`Source.trust_ref`); the caller reads
those and hands them to :func:`compile_policy`, which reports an unreadable key at the line that names it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from assay.crypto.keys import PublicKey
from assay.errors import AssayError, InputError
from assay.formats import intoto, safeyaml
from assay.policy import schema
from assay.policy.model import Authorities, Keyless, Policy, Rule, parse_duration

CEL_VARIABLES = ("predicate", "predicateType", "subject", "statement")
SBOM_TYPES = {
    "cyclonedx": ("https://cyclonedx.org/bom",),
    "spdx": ("https://spdx.dev/Document",),
}
VULNS_TYPES = ("https://in-toto.io/attestation/vulns/v0.2", "https://in-toto.io/attestation/vulns")
MAX_CEL_LENGTH = 4096
MAX_CEL_DEPTH = 16  # bracket nesting
MAX_CEL_TREE_DEPTH = 250  # parse-tree depth: the compiler and evaluator recurse once per level
RULE_KINDS = ("signature", "attestation", "provenance", "sbom", "vulnerabilities", "layout", "checklist")


class _Lines:
    """JSON-pointer-like paths ("spec/require/0/name") → 1-based line numbers."""

    def __init__(self) -> None:
        self.map: dict[str, int] = {}

    def walk(self, node: yaml.Node, path: str) -> None:
        self.map[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = f"{path}/{k.value}" if path else str(k.value)
                self.map[key] = k.start_mark.line + 1
                self.walk(v, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.walk(item, f"{path}/{i}" if path else str(i))

    def line(self, path: str) -> int:
        while path and path not in self.map:
            path = path.rsplit("/", 1)[0] if "/" in path else ""
        return self.map.get(path, 1)


def _fail(reason: str, where: str, line: int, message: str) -> InputError:
    return InputError(reason, f"{where}:{line}: {message}")


def _read(raw: bytes, where: str) -> tuple[Any, _Lines]:
    """One parse within the alias/size budget: the node tree gives line numbers and the data."""
    lines = _Lines()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail("policy-malformed", where, 1, f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        nodes = safeyaml.compose_all(text, what=where)
    except InputError as exc:
        if exc.reason == "yaml-invalid":
            m = re.search(r" at line (\d+)", exc.message)
            problem = exc.message.split(": ", 1)[-1]
            raise _fail("policy-malformed", where, int(m.group(1)) if m else 1, f"not YAML/JSON: {problem}") from None
        raise _fail(f"policy-{exc.reason}", where, 1, exc.message) from None
    if len(nodes) > 1:
        raise _fail("policy-malformed", where, 1, f"not YAML/JSON: holds {len(nodes)} documents; expected one")
    if not nodes:
        return None, lines
    loader = yaml.SafeLoader("")
    try:
        data = loader.construct_document(nodes[0])
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        raise _fail("policy-malformed", where, 1, f"not YAML/JSON: {str(exc).splitlines()[0]}") from None
    finally:
        loader.dispose()
    try:
        lines.walk(nodes[0], "")
    except RecursionError:
        raise _fail("policy-yaml-too-deep", where, 1, "nests too deeply") from None
    return data, lines


def _schema_errors(data: Any, where: str, lines: _Lines) -> None:
    from assay.policy.validate import errors

    # rules are checked against the schema of their own kind first, for precise messages
    spec = data.get("spec") if isinstance(data, dict) else None
    require = spec.get("require") if isinstance(spec, dict) else None
    if isinstance(require, list):
        for i, rule in enumerate(require):
            if not isinstance(rule, dict):
                continue
            kinds = [k for k in RULE_KINDS if k in rule]
            path = f"spec/require/{i}"
            if len(kinds) != 1:
                unknown = [k for k in rule if k != "name" and k not in RULE_KINDS]
                msg = (
                    f"unknown key {unknown[0]!r} in rule (expected one of {', '.join(RULE_KINDS)})"
                    if unknown
                    else f"a rule needs exactly one of {', '.join(RULE_KINDS)}"
                )
                raise _fail("policy-unknown-key" if unknown else "policy-invalid", where, lines.line(path), msg)
            sub = schema._rule(kinds[0], getattr(schema, kinds[0].upper()))
            _report(errors(sub, rule, path), where, lines)
    _report(errors(schema.SCHEMA, data), where, lines)


def _report(found: list[tuple[str, str, str]], where: str, lines: _Lines) -> None:
    if not found:
        return
    unknown = [e for e in found if e[1] == "additionalProperties"]
    path, keyword, message = unknown[0] if unknown else found[0]
    if keyword == "additionalProperties":
        raise _fail("policy-unknown-key", where, lines.line(path), message)
    raise _fail("policy-invalid", where, lines.line(path), message)


def _regexp(value: str, where: str, line: int) -> re.Pattern[str]:
    try:
        return re.compile(value)
    except re.error as exc:
        raise _fail(
            "policy-regexp-invalid", where, line, f"regular expression {value!r} does not compile: {exc}"
        ) from None


def _cel_depth(source: str) -> int:
    """The deepest bracket nesting outside string literals (a linear pre-scan before the recursive parser)."""
    depth = deepest = 0
    quote = ""
    escaped = False
    for ch in source:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    return deepest


def _cel(source: str, where: str, line: int) -> Any:
    import celpy

    if len(source) > MAX_CEL_LENGTH or _cel_depth(source) > MAX_CEL_DEPTH:
        raise _fail(
            "policy-cel-too-complex",
            where,
            line,
            f"CEL expression is longer than {MAX_CEL_LENGTH} characters or nests deeper than {MAX_CEL_DEPTH}",
        )

    env = celpy.Environment()
    try:
        ast = env.compile(source)
    except Exception as exc:  # celpy raises its own parse error types
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _fail(
            "policy-cel-invalid", where, line, f"CEL expression does not compile: {source!r}: {first}"
        ) from None
    if _tree_depth(ast) > MAX_CEL_TREE_DEPTH:
        raise _fail("policy-cel-too-complex", where, line, f"CEL expression {source[:60]!r}… is too deeply nested")
    try:
        return _checked_condition(source, ast, env, where, line)
    except RecursionError:
        raise _fail("policy-cel-too-complex", where, line, "CEL expression is too deeply nested") from None


def _tree_depth(tree: Any) -> int:
    """Depth of a lark parse tree, walked without recursion."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((c, depth + 1) for c in getattr(node, "children", ()) if hasattr(c, "children"))
    return deepest


def _checked_condition(source: str, ast: Any, env: Any, where: str, line: int) -> Any:
    bound: set[str] = set()
    idents: list[str] = []
    for t in ast.iter_subtrees():
        if t.data == "member_dot_arg" and len(t.children) >= 3 and str(t.children[1]) in (
            "exists", "all", "exists_one", "map", "filter",
        ):  # fmt: skip
            first_arg = t.children[2].children[0] if t.children[2].children else None
            if first_arg is not None:
                for sub in first_arg.iter_subtrees():
                    if sub.data == "ident":
                        bound.add(str(sub.children[0]))
                        break
        if t.data == "ident":
            idents.append(str(t.children[0]))
    unknown = [i for i in idents if i not in bound and i not in CEL_VARIABLES]
    if unknown:
        raise _fail(
            "policy-cel-unknown-variable",
            where,
            line,
            f"CEL expression {source!r} uses unknown variable {unknown[0]!r} (known: {', '.join(CEL_VARIABLES)})",
        )
    from assay.policy.cel import Condition

    return Condition(source, ast, env.program(ast))


def _authorities(
    doc: dict[str, Any] | None, keys: Mapping[str, PublicKey | AssayError], where: str, lines: _Lines, path: str
) -> Authorities:
    if doc is None:
        return Authorities()
    loaded = []
    for i, k in enumerate(doc.get("keys") or []):
        key = keys.get(k)
        if key is None or isinstance(key, AssayError):
            message = key.message if key is not None else "not read"
            raise _fail("policy-key-unreadable", where, lines.line(f"{path}/keys/{i}"), f"key {k!r}: {message}")
        loaded.append((k, key))
    keyless = []
    for i, kl in enumerate(doc.get("keyless") or []):
        p = f"{path}/keyless/{i}"
        keyless.append(
            Keyless(
                issuer=kl.get("issuer"),
                issuer_re=_regexp(kl["issuerRegExp"], where, lines.line(f"{p}/issuerRegExp"))
                if "issuerRegExp" in kl
                else None,
                subject=kl.get("subject"),
                subject_re=_regexp(kl["subjectRegExp"], where, lines.line(f"{p}/subjectRegExp"))
                if "subjectRegExp" in kl
                else None,
                claims=tuple(sorted((kl.get("claims") or {}).items())),
                claims_re=tuple(
                    (name, _regexp(v, where, lines.line(f"{p}/claimsRegExp/{name}")))
                    for name, v in sorted((kl.get("claimsRegExp") or {}).items())
                ),
            )
        )
    threshold = int(doc.get("threshold", 1))
    if loaded and threshold > len(loaded):
        raise _fail(
            "policy-invalid",
            where,
            lines.line(f"{path}/threshold"),
            f"threshold {threshold} exceeds the {len(loaded)} key(s) listed",
        )
    return Authorities(tuple(loaded), threshold, tuple(keyless))


@dataclass(frozen=True)
class Source:
    """A policy document parsed and schema-checked, before anything it names outside itself is read."""

    where: str
    raw: bytes
    data: dict[str, Any]
    lines: _Lines

    def key_refs(self) -> list[str]:
        """Every key file the rules name, as written (relative to the policy's directory), in order."""
        out: list[str] = []
        for r in self.data["spec"]["require"]:
            kind = next(k for k in RULE_KINDS if k in r)
            for k in (r[kind].get("authorities") or {}).get("keys") or []:
                if k not in out:
                    out.append(k)
        return out

    def layout_refs(self) -> dict[int, dict[str, Any]]:
        """Each ``layout`` rule's files as written (``layout``, ``keys``, ``links``), by rule index."""
        out: dict[int, dict[str, Any]] = {}
        for i, r in enumerate(self.data["spec"]["require"]):
            if "layout" in r:
                body = r["layout"]
                out[i] = {"layout": body["layout"], "keys": list(body["keys"]), "links": body["links"]}
        return out

    @property
    def trust_ref(self) -> tuple[str, str] | None:
        """``("trustedRoot", path)`` or ``("server", url)`` from ``spec.trust``; None means public good."""
        trust = self.data["spec"].get("trust") or {}
        for field in ("trustedRoot", "server"):
            if field in trust:
                return field, str(trust[field])
        return None

    def trust_error(self, message: str) -> InputError:
        """``policy-trust-root-unreadable`` at the line of ``spec.trust``'s source."""
        field = self.trust_ref[0] if self.trust_ref else "trust"
        return _fail("policy-trust-root-unreadable", self.where, self.lines.line(f"spec/trust/{field}"), message)


def parse(raw: bytes, where: str) -> Source:
    """Parse and schema-check a policy document; InputError (exit 2) names file and line on any problem."""
    data, lines = _read(raw, where)
    if not isinstance(data, dict):
        raise _fail("policy-invalid", where, 1, "a policy is a mapping (apiVersion, kind, metadata, spec)")
    _schema_errors(data, where, lines)
    return Source(where, raw, data, lines)


@dataclass(frozen=True)
class Unreadable:
    """A file a ``layout`` rule names that the service layer could not read: which field, and why."""

    field: str  # "layout" or "keys/<n>"
    reason: str
    message: str


def compile_policy(
    source: Source,
    keys: Mapping[str, PublicKey | AssayError],
    layouts: Mapping[int, dict[str, Any] | Unreadable] | None = None,
) -> Policy:
    """Compile rules, regexps and CEL with the keys read for :meth:`Source.key_refs` and the layouts read for
    :meth:`Source.layout_refs`; ``trust`` is left None for the caller to fill."""
    data, where, lines = source.data, source.where, source.lines
    raw = source.raw
    spec = data["spec"]
    rules: list[Rule] = []
    for i, r in enumerate(spec["require"]):
        kind = next(k for k in RULE_KINDS if k in r)
        body = r[kind]
        p = f"spec/require/{i}/{kind}"
        auth = _authorities(body.get("authorities"), keys, where, lines, f"{p}/authorities")
        rule = Rule(r["name"], kind, auth, lines.line(f"spec/require/{i}"))
        if "maxAge" in body:
            try:
                rule.max_age = parse_duration(str(body["maxAge"]))
            except ValueError as exc:
                raise _fail("policy-invalid", where, lines.line(f"{p}/maxAge"), f"maxAge: {exc}") from None
        if kind == "attestation":
            try:
                rule.predicate_types = (intoto.predicate_type(body["predicateType"]),)
            except AssayError as exc:
                raise _fail("policy-invalid", where, lines.line(f"{p}/predicateType"), exc.message) from None
            rule.conditions = tuple(
                (c, _cel(c, where, lines.line(f"{p}/conditions/{j}")))
                for j, c in enumerate(body.get("conditions") or [])
            )
        elif kind == "provenance":
            rule.predicate_types = ("https://slsa.dev/provenance/v1",)
            rule.options = {k: body.get(k) for k in ("sourceRepository", "branch", "tag", "builderId")}
        elif kind == "sbom":
            formats = body.get("formats") or ["cyclonedx", "spdx"]
            rule.predicate_types = tuple(t for f in formats for t in SBOM_TYPES[f])
        elif kind == "vulnerabilities":
            rule.predicate_types = VULNS_TYPES
            rule.options = {"failOn": body.get("failOn", "high"), "allow": body.get("allow") or []}
        elif kind == "checklist":
            formats = body.get("formats") or ["cyclonedx", "spdx"]
            rule.options = {
                "items": tuple(body.get("items") or schema.CHECKLIST_ITEMS),
                "provenance": {k: body.get(k) for k in ("sourceRepository", "branch", "builderId")} | {"tag": None},
                "sbom_types": tuple(t for f in formats for t in SBOM_TYPES[f]),
            }
        elif kind == "layout":
            got = (layouts or {}).get(i)
            if got is None:
                raise _fail("policy-layout-unreadable", where, lines.line(f"{p}/layout"), "the layout was not read")
            if isinstance(got, Unreadable):
                raise _fail(got.reason, where, lines.line(f"{p}/{got.field}"), got.message)
            rule.options = {**got, "step": body.get("step")}
        if kind not in ("provenance", "layout") and not auth.keys and not auth.keyless:
            raise _fail(
                "policy-invalid", where, lines.line(f"{p}/authorities"), "a rule needs keys or keyless authorities"
            )
        rules.append(rule)
    names = [r.name for r in rules]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise _fail("policy-invalid", where, lines.line("spec/require"), f"rule names must be unique: {sorted(dupes)}")
    match = spec["match"]
    selector = match.get("namespaceSelector")
    if selector is not None:
        labels = selector.get("matchLabels") or {}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise _fail(
                "policy-invalid",
                where,
                lines.line("spec/match/namespaceSelector/matchLabels"),
                "matchLabels maps label names to string values",
            )
    tag_re = _regexp(match["tagRegExp"], where, lines.line("spec/match/tagRegExp")) if "tagRegExp" in match else None
    return Policy(
        name=data["metadata"]["name"],
        path=where,
        digest=hashlib.sha256(raw).hexdigest(),
        raw=raw,
        mode=spec.get("mode", "enforce"),
        images=tuple(match.get("images") or ()),
        blobs=tuple(match.get("blobs") or ()),
        exclude=tuple(match.get("exclude") or ()),
        tags=tuple(match.get("tags") or ()),
        tag_re=tag_re,
        trust=None,
        rules=rules,
        lines=lines.map,
        namespaces=tuple(match.get("namespaces") or ()),
        namespace_selector=selector,
        failure_policy=spec.get("failurePolicy", "fail-closed"),
    )
