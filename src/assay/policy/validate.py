"""A small JSON Schema validator for the keywords the policy schema uses (loads in microseconds;
the published schema is still checked with the jsonschema library in the tests).

Keywords: type, properties, additionalProperties (false), required, enum, const,
pattern, minLength, minItems, minimum, maxProperties, items, anyOf, oneOf, not,
format (date). Errors are (path, keyword, message); the deepest error of a
oneOf/anyOf branch is reported.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

Error = tuple[str, str, str]  # (slash path, keyword, message)

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


def _join(path: str, part: object) -> str:
    return f"{path}/{part}" if path else str(part)


def errors(schema: dict[str, Any], value: Any, path: str = "") -> list[Error]:
    out: list[Error] = []
    t = schema.get("type")
    if t is not None and not _TYPES[t](value):
        return [(path, "type", f"{path or 'document'}: expected {t}, found {type(value).__name__}")]
    if "const" in schema and value != schema["const"]:
        out.append((path, "const", f"{path}: must be {schema['const']!r}"))
    if "enum" in schema and value not in schema["enum"]:
        out.append((path, "enum", f"{path}: {value!r} is not one of {schema['enum']}"))
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append((path, "minLength", f"{path}: must not be empty"))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append((path, "pattern", f"{path}: {value!r} does not match {schema['pattern']}"))
        if schema.get("format") == "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                out.append((path, "format", f"{path}: {value!r} is not a date (YYYY-MM-DD)"))
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and "minimum" in schema
        and value < schema["minimum"]
    ):
        out.append((path, "minimum", f"{path}: must be at least {schema['minimum']}"))
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append((path, "minItems", f"{path}: needs at least {schema['minItems']} item(s)"))
        if "items" in schema:
            for i, item in enumerate(value):
                out += errors(schema["items"], item, _join(path, i))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                out.append((path, "required", f"{path or 'document'}: {key!r} is required"))
        if schema.get("additionalProperties") is False:
            for key in value:
                if key not in props:
                    out.append((_join(path, key), "additionalProperties", f"unknown key {key!r}"))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            out.append((path, "maxProperties", f"{path}: at most {schema['maxProperties']} key(s)"))
        for key, sub in props.items():
            if key in value:
                out += errors(sub, value[key], _join(path, key))
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            branches = [errors(s, value, path) for s in schema[keyword]]
            passing = sum(not b for b in branches)
            if passing == 0:
                deepest = max((e for b in branches for e in b), key=lambda e: e[0].count("/"), default=None)
                out.append(deepest or (path, keyword, f"{path}: matches none of the allowed forms"))
            elif keyword == "oneOf" and passing > 1:
                out.append((path, keyword, f"{path}: ambiguous (matches several forms)"))
    if "not" in schema and not errors(schema["not"], value, path):
        out.append((path, "not", f"{path}: this combination is not allowed ({_describe_not(schema['not'])})"))
    return out


def _describe_not(schema: dict[str, Any]) -> str:
    if "required" in schema:
        return "not both " + " and ".join(repr(k) for k in schema["required"])
    return "forbidden form"
