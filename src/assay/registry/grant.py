"""What a caller is granted for one asked scope: the intersection of asked and allowed (pure).

Repository actions map onto rows of THE permission table: ``pull`` -> ``artifact.read`` (anyone when the
project is public: ``PUBLIC_READS``), ``push`` -> ``artifact.publish``, ``delete`` -> ``artifact.delete``;
``*`` is granted as ``*`` only when all three are, otherwise as the allowed ones. ``registry:catalog:*``
is granted only to a caller who can read every project (the registry lists every repository it stores and
cannot filter by project). A project that does not exist is refused exactly as one the caller cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assay.access.permissions import RANK, allows, min_role, public_read
from assay.registry.scope import Scope

ACTIONS = {"pull": "artifact.read", "push": "artifact.publish", "delete": "artifact.delete"}


@dataclass(frozen=True)
class Standing:
    """What the caller holds in the project owning a repository (found by the service)."""

    project: str | None  # None: the name is outside every project
    exists: bool
    public: bool
    role: str | None
    push_refusal: str | None = None  # the project's push rule refuses this caller (reason code), else None


@dataclass(frozen=True)
class Decision:
    """One scope's outcome: granted actions, refused actions with their reasons, and the role relied on."""

    asked: Scope
    granted: tuple[str, ...]
    refused: dict[str, str] = field(default_factory=dict)
    role: str | None = None  # highest role the grant relies on; None: nothing, or only what public opens
    project: str | None = None

    @property
    def access(self) -> Scope | None:
        """The ``access`` claim entry, or None when nothing was granted."""
        return Scope(self.asked.type, self.asked.name, self.granted) if self.granted else None


def _higher(a: str | None, b: str) -> str:
    return b if a is None or RANK[b] > RANK[a] else a


def decide_repository(scope: Scope, st: Standing) -> Decision:
    """The grant for a ``repository`` scope given the caller's standing in the owning project."""
    readable = st.exists and (st.role is not None or st.public)
    wanted = ("pull", "push", "delete") if "*" in scope.actions else scope.actions
    granted: list[str] = []
    refused: dict[str, str] = {}
    role: str | None = None
    for action in wanted:
        permission = ACTIONS.get(action)
        if permission is None:
            refused[action] = "action-unknown"
        elif st.project is None or not readable:
            refused[action] = "unknown-project"
        elif action == "push" and st.push_refusal is not None:
            refused[action] = st.push_refusal
        elif allows(st.role, permission):
            granted.append(action)
            role = _higher(role, min_role(permission))
        elif st.public and public_read(permission):
            granted.append(action)
        else:
            refused[action] = "insufficient-role"
    if "*" in scope.actions:
        if not refused:
            granted = ["*"]
        else:
            refused = {"*": next(iter(refused.values())), **refused}
    return Decision(scope, tuple(granted), refused, role, st.project if st.exists else None)


def decide_catalog(scope: Scope, reads_every_project: bool) -> Decision:
    """The grant for ``registry:catalog:*``."""
    if scope.name != "catalog":
        return Decision(scope, (), dict.fromkeys(scope.actions or ("*",), "resource-unknown"))
    if not reads_every_project:
        return Decision(scope, (), dict.fromkeys(scope.actions, "catalog-not-all-projects"))
    granted = tuple(a for a in scope.actions if a == "*")
    refused = {a: "action-unknown" for a in scope.actions if a != "*"}
    return Decision(scope, granted, refused)


def decide_unknown(scope: Scope) -> Decision:
    """A resource type this token server does not grant."""
    return Decision(scope, (), dict.fromkeys(scope.actions or ("*",), "resource-type-unknown"))
