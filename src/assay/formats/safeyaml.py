"""YAML for untrusted files: safe tags only, and a budget on aliases and on the expanded document size.

A few hundred bytes of nested aliases ("billion laughs") expand to gigabytes once anything walks the
data. :func:`compose` counts each node as often as aliases would repeat it and refuses past the budget.
"""

from __future__ import annotations

from typing import Any

import yaml

from assay.errors import InputError

MAX_ALIASES = 100
MAX_NODES = 200_000
MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
_PARSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built: same events, ~10x faster


def _expanded_size(node: yaml.Node, memo: dict[int, int], limit: int) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = limit + 1  # a cycle counts as over budget
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _expanded_size(child, memo, limit)
            if total > limit:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, memo, limit) + _expanded_size(v, memo, limit)
            if total > limit:
                break
    memo[key] = total
    return total


def compose_all(
    text: str, *, what: str = "YAML", max_aliases: int = MAX_ALIASES, max_nodes: int = MAX_NODES
) -> list[yaml.Node]:
    """Parse to node trees (line numbers kept) within the alias and expansion budget."""
    if len(text) > MAX_BYTES:
        raise InputError("yaml-too-large", f"{what} is larger than {MAX_BYTES} bytes")
    aliases = depth = 0
    try:
        for event in yaml.parse(text, Loader=_PARSER):
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > max_aliases:
                    raise InputError("yaml-alias-budget", f"{what} uses more than {max_aliases} aliases")
            elif isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise InputError("yaml-too-deep", f"{what} nests deeper than {MAX_DEPTH} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        nodes = [n for n in yaml.compose_all(text, Loader=_PARSER) if n is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "nesting depth" in str(problem):  # libyaml's own limit, met while scanning ahead of the events
            raise InputError("yaml-too-deep", f"{what} nests deeper than {MAX_DEPTH} levels") from None
        raise InputError("yaml-invalid", f"{what} is not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise InputError("yaml-too-deep", f"{what} nests too deeply") from None
    for node in nodes:
        if _expanded_size(node, {}, max_nodes) > max_nodes:
            raise InputError("yaml-alias-budget", f"{what} expands to more than {max_nodes} nodes")
    return nodes


def load_all(text: str, *, what: str = "YAML", **budget: Any) -> list[Any]:
    """Every document of ``text`` as Python data, within the budget."""
    loader_cls = yaml.SafeLoader
    out = []
    for node in compose_all(text, what=what, **budget):
        loader = loader_cls("")
        try:
            out.append(loader.construct_document(node))
        except yaml.YAMLError as exc:
            raise InputError("yaml-invalid", f"{what}: {str(exc).splitlines()[0]}") from None
        except ValueError as exc:  # a scalar the resolver typed but cannot build, e.g. the timestamp 2030-02-30
            raise InputError("yaml-invalid", f"{what}: {exc}") from None
        finally:
            loader.dispose()
    return out


def load(text: str, *, what: str = "YAML", **budget: Any) -> Any:
    """The single document of ``text`` (None when empty), within the budget."""
    docs = load_all(text, what=what, **budget)
    if len(docs) > 1:
        raise InputError("yaml-invalid", f"{what} holds {len(docs)} documents; expected one")
    return docs[0] if docs else None
