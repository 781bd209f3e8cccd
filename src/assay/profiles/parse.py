"""Checking a profile document (pure): ``apiVersion: assay.dev/v1``, ``kind: Profile``, ``metadata.name`` and
``spec`` with ``rules`` (the policy language's ``require`` entries, compiled by its loader), ``selectors`` (CEL over
``entity``), ``alert`` (on | off | dry_run), ``interval`` (at least the server's minimum) and ``trust``.

Every problem is an InputError whose reason starts ``profile-``; nothing is compiled half-way.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from assay.crypto import keys
from assay.crypto.keys import PublicKey
from assay.errors import AssayError, InputError
from assay.formats import safeyaml
from assay.policy import loader
from assay.policy.cel import Condition
from assay.policy.model import parse_duration
from assay.profiles.model import ALERT_MODES, Profile

API_VERSION = "assay.dev/v1"
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
TOP_KEYS = {"apiVersion", "kind", "metadata", "spec"}
SPEC_KEYS = {"rules", "selectors", "alert", "interval", "trust", "description"}
DEFAULT_INTERVAL = "5m"
MAX_DOCUMENT = 256 * 1024
MAX_SELECTOR = 2048
SELECTOR_VARIABLES = ("entity",)


def _bad(reason: str, message: str) -> InputError:
    return InputError(reason, message)


def check_name(name: object, what: str = "profile name") -> str:
    """A profile (or sink) name: lowercase letters, digits, ``.-_``; else ``profile-invalid``."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise _bad("profile-invalid", f"{what} {name!r}: use lowercase letters, digits, '.', '_' and '-'")
    return name


def _alert(value: object) -> str:
    # YAML 1.1 reads a bare on/off as a boolean
    text = {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value
    if text not in ALERT_MODES:
        raise _bad("profile-bad-alert", f"spec.alert {value!r}: use one of {', '.join(ALERT_MODES)}")
    return str(text)


def _interval(value: object, minimum: float) -> int:
    text = str(value)
    if not re.fullmatch(r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d|w))+", text):
        raise _bad("profile-bad-interval", f"spec.interval {value!r}: a duration such as 30s, 5m or 1h")
    try:
        seconds = parse_duration(text).total_seconds()
    except ValueError as exc:
        raise _bad("profile-bad-interval", f"spec.interval: {exc}") from None
    if seconds < minimum:
        raise _bad("profile-interval-too-short", f"spec.interval {text} is below this server's minimum of {minimum:g}s")
    return max(1, int(seconds))


def _trust(value: object) -> str:
    if value is None:
        return "server"
    if value == {"publicGood": True}:
        return "public-good"
    if value == {"thisServer": True}:
        return "server"
    raise _bad("profile-invalid", "spec.trust: {thisServer: true} (the default) or {publicGood: true}")


def compile_selector(source: object, index: int) -> Condition:
    """A CEL selector over ``entity``; ``profile-selector-invalid`` when it does not compile or names others."""
    import celpy

    where = f"spec.selectors[{index}]"
    if not isinstance(source, str) or not source.strip():
        raise _bad("profile-selector-invalid", f"{where}: a CEL expression string")
    if len(source) > MAX_SELECTOR:
        raise _bad("profile-selector-invalid", f"{where}: longer than {MAX_SELECTOR} characters")
    env = celpy.Environment()
    try:
        ast = env.compile(source)
    except Exception as exc:  # celpy's parse errors have several types
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _bad("profile-selector-invalid", f"{where}: {source!r} does not compile: {first}") from None
    bound: set[str] = set()
    idents: list[str] = []
    for t in ast.iter_subtrees():
        if t.data == "member_dot_arg" and len(t.children) >= 3 and t.children[2].children:
            for sub in t.children[2].children[0].iter_subtrees():
                if sub.data == "ident":
                    bound.add(str(sub.children[0]))
                    break
        if t.data == "ident":
            idents.append(str(t.children[0]))
    unknown = [i for i in idents if i not in bound and i not in SELECTOR_VARIABLES]
    if unknown:
        raise _bad("profile-selector-invalid", f"{where}: {source!r} uses unknown variable {unknown[0]!r} (use entity)")
    return Condition(source, ast, env.program(ast))


def _rules(rules: object) -> list[dict[str, Any]]:
    if not isinstance(rules, list) or not rules:
        raise _bad("profile-invalid", "spec.rules: a non-empty list of policy rules")
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise _bad("profile-invalid", f"spec.rules[{i}]: a mapping with a name and one rule kind")
        kinds = [k for k in rule if k != "name"]
        unknown = [k for k in kinds if k not in loader.RULE_KINDS]
        if unknown or len(kinds) != 1:
            what = f"unknown rule {unknown[0]!r}" if unknown else "needs exactly one rule kind"
            raise _bad("profile-unknown-rule", f"spec.rules[{i}]: {what} (known: {', '.join(loader.RULE_KINDS)})")
        if kinds[0] == "layout":
            raise _bad("profile-unknown-rule", f"spec.rules[{i}]: layout rules name files; profiles cannot use them")
    return rules


def _inline_keys(refs: list[str]) -> dict[str, PublicKey | AssayError]:
    out: dict[str, PublicKey | AssayError] = {}
    for ref in refs:
        if "-----BEGIN" not in ref:
            out[ref] = AssayError("profile-key-not-inline", "profiles carry keys inline as PEM, not file names")
            continue
        try:
            out[ref] = keys.parse_public(ref.encode(), "profile key")
        except AssayError as exc:
            out[ref] = exc
    return out


def parse_profile(raw: bytes, min_interval: float) -> Profile:
    """Check and compile a profile document; InputError ``profile-*`` on any problem."""
    if len(raw) > MAX_DOCUMENT:
        raise _bad("profile-too-large", f"a profile is at most {MAX_DOCUMENT} bytes")
    try:
        data = safeyaml.load(raw.decode("utf-8"), what="profile")
    except UnicodeDecodeError:
        raise _bad("profile-malformed", "not UTF-8") from None
    except InputError as exc:
        raise _bad("profile-malformed", exc.message) from None
    if not isinstance(data, dict):
        raise _bad("profile-malformed", "a profile is a mapping (apiVersion, kind, metadata, spec)")
    extra = sorted(set(data) - TOP_KEYS)
    if extra:
        raise _bad("profile-unknown-key", f"unknown key {extra[0]!r} (expected {', '.join(sorted(TOP_KEYS))})")
    if data.get("apiVersion") != API_VERSION or data.get("kind") != "Profile":
        raise _bad("profile-invalid", f"expected apiVersion: {API_VERSION} and kind: Profile")
    meta = data.get("metadata")
    spec = data.get("spec")
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        raise _bad("profile-invalid", "metadata and spec are mappings")
    name = check_name(meta.get("name"))
    extra = sorted(set(spec) - SPEC_KEYS)
    if extra:
        raise _bad("profile-unknown-key", f"spec: unknown key {extra[0]!r} (expected {', '.join(sorted(SPEC_KEYS))})")
    rules = _rules(spec.get("rules"))
    selectors_src = spec.get("selectors") or []
    if not isinstance(selectors_src, list):
        raise _bad("profile-selector-invalid", "spec.selectors: a list of CEL expressions")
    selectors = tuple(compile_selector(s, i) for i, s in enumerate(selectors_src))
    alert = _alert(spec.get("alert", "on"))
    interval = _interval(spec.get("interval", DEFAULT_INTERVAL), min_interval)
    trust = _trust(spec.get("trust"))
    doc = {
        "apiVersion": API_VERSION,
        "kind": "Policy",
        "metadata": {"name": name},
        "spec": {"mode": "enforce", "match": {"images": ["**"]}, "require": rules},
    }
    where = f"profile {name}"
    try:
        source = loader.parse(json.dumps(doc).encode(), where)
        policy = loader.compile_policy(source, _inline_keys(source.key_refs()))
    except InputError as exc:
        message = re.sub(r"^profile [^:]+:\d+: ", "", exc.message)
        raise _bad("profile-rule-invalid", f"spec.rules: {exc.reason}: {message}") from None
    # a profile chooses its entities by selectors: every target is in the rules' scope
    policy = replace(policy, images=("**",), blobs=("**",), exclude=(), tags=(), tag_re=None)
    text = raw.decode("utf-8")
    return Profile(name, text, policy, selectors, alert, interval, trust, rules=tuple(r.name for r in policy.rules))
