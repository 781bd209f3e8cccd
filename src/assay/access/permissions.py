"""THE permission table: every protected action and the minimum role it needs.

Roles are ordered ``viewer < publisher < policy_writer < admin``. ``authenticated``
means any valid session or token; ``server_admin`` means an identity named with
``assay server --admin`` (or ``--dev``), who is also ``admin`` of every project.
A new endpoint adds its action here (one row) and declares it with
``Depends(require("<action>"))``; the README's matrix and the matrix test follow.
``PUBLIC_READS`` is the one place saying what a ``public`` project opens to anyone,
credentials or not; every other action keeps its role there too.
"""

from __future__ import annotations

from assay.errors import InputError

ROLES = ("viewer", "publisher", "policy_writer", "admin")
RANK = {"authenticated": 0, "viewer": 1, "publisher": 2, "policy_writer": 3, "admin": 4, "server_admin": 5}

# action -> (minimum role, state-changing?)
PERMISSIONS: dict[str, tuple[str, bool]] = {
    "session.read": ("authenticated", False),
    "session.delete": ("authenticated", True),
    "dashboard.read": ("authenticated", False),
    "project.list": ("authenticated", False),
    "project.create": ("server_admin", True),
    "project.read": ("viewer", False),
    "project.create_child": ("admin", True),
    "project.delete": ("admin", True),
    "project.admin": ("admin", True),
    "member.read": ("viewer", False),
    "member.write": ("admin", True),
    "identity.remove": ("server_admin", True),
    "token.create": ("viewer", True),
    "token.read": ("viewer", False),
    "token.revoke": ("viewer", True),
    "audit.read": ("admin", False),
    "audit.read_all": ("server_admin", False),
    "audit.anchor": ("server_admin", True),
    "log.append": ("publisher", True),
    "policy.read": ("viewer", False),
    "policy.write": ("policy_writer", True),
    "profile.read": ("viewer", False),
    "profile.write": ("policy_writer", True),
    "tuf.read": ("viewer", False),
    "tuf.sign": ("publisher", True),
    "tuf.delegate": ("policy_writer", True),
    "tuf.root": ("admin", True),
    "tuf.republish": ("server_admin", True),
    "artifact.read": ("viewer", False),
    "artifact.publish": ("publisher", True),
    "artifact.delete": ("admin", True),
    "evidence.read": ("viewer", False),
    "evidence.write": ("publisher", True),
    "broker.read": ("viewer", False),
    "broker.unwrap": ("publisher", True),
    "broker.policy": ("policy_writer", True),
    "broker.admin": ("admin", True),
}


# Read actions a project with visibility ``public`` allows to anyone, even without credentials.
# Visibility is the project's own setting: a child is not public because its parent is.
PUBLIC_READS = frozenset({"artifact.read", "evidence.read", "tuf.read"})
VISIBILITIES = ("members", "public")

# Writes that need no credentials (they create them), audited all the same. ``registry.token`` (GET/POST
# /v2/token) is open as the registry token spec wants; each asked scope is then decided by the rows above.
PUBLIC_WRITES = {"session.create", "registry.token"}

# The writes that change who may do what: sessions, tokens, projects (their tree, visibility and settings) and
# grants. Only these clear the per-process cache of principals and roles; any other write (a log append, an
# unwrap, an upload) leaves it warm. ``registry.token`` only mints short-lived credentials, listed for safety.
ACCESS_WRITES = frozenset({
    "session.create", "session.delete", "project.create", "project.create_child", "project.delete", "project.admin",
    "member.write", "identity.remove", "token.create", "token.revoke", "registry.token",
})  # fmt: skip


def min_role(action: str) -> str:
    """The least role allowed to perform ``action`` (unknown actions are a programming error)."""
    try:
        return PERMISSIONS[action][0]
    except KeyError:
        raise KeyError(f"action {action!r} is not in the permission table") from None


def changes_access(action: str) -> bool:
    """Whether a successful ``action`` may change a principal, a role or a project's visibility."""
    return action in ACCESS_WRITES


def is_write(action: str) -> bool:
    """Whether ``action`` changes state (and so is audited when it succeeds)."""
    return action in PUBLIC_WRITES or PERMISSIONS[action][1]


def allows(role: str | None, action: str) -> bool:
    """Whether a principal holding ``role`` (None: no role in the project) may perform ``action``."""
    need = RANK[min_role(action)]
    have = RANK.get(role, -1) if role is not None else (0 if need == 0 else -1)
    return have >= need


def public_read(action: str) -> bool:
    """Whether a ``public`` project lets anyone perform ``action``."""
    return action in PUBLIC_READS and not PERMISSIONS[action][1]


def check_visibility(value: object) -> str:
    """``value`` if it is a project visibility, else ``bad-visibility``."""
    if not isinstance(value, str) or value not in VISIBILITIES:
        raise InputError("bad-visibility", f"no visibility {value!r}", hint=f"use one of {', '.join(VISIBILITIES)}")
    return value


def check_role(role: str) -> str:
    """``role`` if it is a project role, else ``unknown-role``."""
    if role not in ROLES:
        raise InputError("unknown-role", f"no role {role!r}", hint=f"use one of {', '.join(ROLES)}")
    return role


def higher(a: str | None, b: str | None) -> str | None:
    """The higher of two roles (None is below every role)."""
    if a is None:
        return b
    if b is None:
        return a
    return a if RANK[a] >= RANK[b] else b


def lower(a: str, b: str) -> str:
    """The lower of two roles."""
    return a if RANK[a] <= RANK[b] else b
