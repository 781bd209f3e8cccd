"""The token-scope grammar and the distribution repository-name grammar (pure).

``scope := resourcetype ":" resourcename ":" action ("," action)*``, with
``resourcetype := [a-z0-9]+ ("(" [a-z0-9]+ ")")?`` and ``action := [a-z]* | "*"``; a repository name is
``component ("/" component)*`` with ``component := [a-z0-9]+ (([._]|__|-+) [a-z0-9]+)*``, 255 characters at
most (distribution's reference grammar, without a registry host: the token names a repository of this
registry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assay.errors import InputError

MAX_SCOPES = 32
MAX_SCOPE_CHARS = 1024
MAX_NAME_CHARS = 255
RESOURCE_TYPE = re.compile(r"[a-z0-9]+(?:\([a-z0-9]+\))?")
ACTION = re.compile(r"[a-z]*|\*")
COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY = re.compile(rf"{COMPONENT}(?:/{COMPONENT})*")
RESOURCE_NAME = re.compile(r"[A-Za-z0-9._/:-]+")


@dataclass(frozen=True)
class Scope:
    """One asked (or granted) resource: ``type`` (``repository``, ``registry``), ``name`` and actions."""

    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"

    def to_json(self) -> dict[str, object]:
        """The ``access`` claim entry."""
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}

    @property
    def base_type(self) -> str:
        """The type without its class: ``repository(plugin)`` -> ``repository``."""
        return self.type.split("(", 1)[0]


def check_repository(name: str) -> str:
    """``name`` if it is a repository name in distribution's grammar, else ``repository-name-invalid``."""
    if len(name) > MAX_NAME_CHARS or not REPOSITORY.fullmatch(name):
        raise InputError(
            "repository-name-invalid",
            f"{name[:80]!r} is not a repository name",
            hint="lowercase components [a-z0-9] joined by . _ __ or -, separated by /",
        )
    return name


def parse_scope(text: str) -> Scope:
    """One scope string, or ``scope-malformed`` / ``repository-name-invalid``."""
    if len(text) > MAX_SCOPE_CHARS:
        raise InputError("scope-malformed", f"a scope is at most {MAX_SCOPE_CHARS} characters")
    rtype, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not RESOURCE_TYPE.fullmatch(rtype) or not name:
        raise InputError("scope-malformed", f"{text[:80]!r} is not TYPE:NAME:ACTIONS")
    parts = tuple(dict.fromkeys(a for a in actions.split(",")))
    if not all(ACTION.fullmatch(a) for a in parts):
        raise InputError("scope-malformed", f"{text[:80]!r}: actions are lowercase words or *")
    if rtype.split("(", 1)[0] == "repository":
        check_repository(name)
    elif not RESOURCE_NAME.fullmatch(name):
        raise InputError("scope-malformed", f"{text[:80]!r}: the resource name has characters outside the grammar")
    return Scope(rtype, name, tuple(a for a in parts if a))


def parse_scopes(values: list[str]) -> list[Scope]:
    """Every ``scope`` parameter (each may hold several, space-separated, as the OAuth2 form does), merged by
    resource in the order asked; an empty list asks for no access (a login check)."""
    texts = [t for v in values for t in v.split(" ") if t]
    if len(texts) > MAX_SCOPES:
        raise InputError("too-many-scopes", f"at most {MAX_SCOPES} scopes per request")
    merged: dict[tuple[str, str], list[str]] = {}
    for text in texts:
        scope = parse_scope(text)
        have = merged.setdefault((scope.type, scope.name), [])
        have.extend(a for a in scope.actions if a not in have)
    return [Scope(t, n, tuple(a)) for (t, n), a in merged.items()]
