"""Request-body documentation for routes that parse their bodies by hand.

The POST handlers read raw bytes and parse them through ``assay.formats.safejson``
(depth, size and lone-surrogate limits) before the typed pydantic models, so FastAPI
never sees a body parameter. These helpers turn the same models into the
``requestBody`` of the operation (``openapi_extra``), with every ``$ref`` inlined so
each operation is self-contained; integers bounded by int64 are published as
``format: int64`` because FastAPI stores bounds as floats. Imports pydantic only.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

INT64_MAX = 2**63 - 1
EXACT_FLOAT = 2**53  # FastAPI's OpenAPI models hold bounds as floats: larger ones would round


def _int64(node: dict[str, Any]) -> dict[str, Any]:
    """An integer bounded by 2^63-1 is published as ``format: int64`` (exact), not a rounded float maximum."""
    if node.get("type") == "integer" and node.get("maximum") == INT64_MAX:
        node = {k: v for k, v in node.items() if k != "maximum"}
        node["format"] = "int64"
    for bound in ("maximum", "minimum"):
        if abs(node.get(bound, 0)) > EXACT_FLOAT:
            raise ValueError(f"integer bound {node[bound]} cannot be published exactly")
    return node


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Replace ``{"$ref": "#/$defs/X"}`` by X's schema, recursively (the models are not recursive)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = _inline(defs[ref.removeprefix("#/$defs/")], defs)
            rest = {k: _inline(v, defs) for k, v in node.items() if k != "$ref"}
            return {**target, **rest}
        return _int64({k: _inline(v, defs) for k, v in node.items() if k != "$defs"})
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of ``model`` (validation mode) with its definitions inlined."""
    schema = model.model_json_schema(mode="validation")
    return _inline(schema, schema.get("$defs", {}))  # type: ignore[no-any-return]


def json_body(*models: type[BaseModel], description: str) -> dict[str, Any]:
    """``openapi_extra`` declaring a required JSON body: one model, or ``oneOf`` several."""
    schemas = [model_schema(m) for m in models]
    schema = schemas[0] if len(schemas) == 1 else {"oneOf": schemas}
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": True, "description": description, "content": content}}


def binary_body(media_type: str, description: str) -> dict[str, Any]:
    """``openapi_extra`` declaring a required binary body of ``media_type``."""
    content = {media_type: {"schema": {"type": "string", "format": "binary"}}}
    return {"requestBody": {"required": True, "description": description, "content": content}}
