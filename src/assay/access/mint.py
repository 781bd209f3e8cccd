"""THE issuance rule: every credential the server issues is decided by :func:`mint`, never longer or stronger
than its maker.

The rule (GitHub's and GitLab's): **API tokens do not mint API tokens.** A session — an identity that
proved itself with an OIDC ID token — is the only maker of an API token; a verified ID token is the only
maker of a session. An API token's role is at most its maker's role in the project (and is capped again by
the maker's *current* role on every use). Short-lived credentials derived for one job (registry tokens,
broker releases) may be made by a session or a token; they never outrank their maker, never outlive it
(expiry at most the maker's) and name it as ``parent``, so revoking the maker ends them. A session and an
API token stand for the identity, not for the credential used to ask: an API token made in a session may
outlive that session, and its role is re-capped by the identity's current role on every use.

Pure: no I/O. The caller looks up the maker's role and stores what is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

from assay.access import errors
from assay.access.permissions import RANK, check_role
from assay.errors import InputError

SESSION_LIFETIME = 12 * 3600
MAX_TOKEN_LIFETIME = 366 * 86400


@dataclass(frozen=True)
class Kind:
    """What may make a kind of credential, and its limits."""

    makers: frozenset[str]  # "identity" (a verified OIDC ID token), "session", "token"
    max_lifetime: int
    has_role: bool
    open_ended: bool = False  # may be issued without an expiry
    bound: bool = False  # bound to the credential that made it: names it as parent, expires no later
    roleless: bool = False  # may carry no role: it then grants only what a public project opens to anyone


KINDS: dict[str, Kind] = {
    "session": Kind(frozenset({"identity"}), SESSION_LIFETIME, has_role=False),
    "api-token": Kind(frozenset({"session"}), MAX_TOKEN_LIFETIME, has_role=True, open_ended=True),
    # a registry token may also be asked for with a CI ID token presented directly ("identity") or with no
    # credentials at all ("anonymous": roleless, so only a public project's reads)
    "registry-token": Kind(
        frozenset({"session", "token", "identity", "anonymous"}), 3600, has_role=True, bound=True, roleless=True
    ),
    "registry-refresh": Kind(frozenset({"session", "token"}), 30 * 86400, has_role=False, bound=True),
    "broker-release": Kind(frozenset({"session", "token"}), 300, has_role=True, bound=True),
}


@dataclass(frozen=True)
class Maker:
    """Who asks for the credential: its kind, credential id, role in the project and expiry."""

    kind: str
    credential_id: str | None = None
    role: str | None = None
    expires: float | None = None


@dataclass(frozen=True)
class Minted:
    """What may be issued: the role, the expiry (unix seconds, None for none) and the parent credential."""

    kind: str
    role: str | None
    expires: int | None
    parent: str | None


def mint(kind: str, maker: Maker, *, role: str | None, lifetime: int | None, now: int) -> Minted:
    """Decide a credential of ``kind`` for ``maker``, or refuse with a reason (see the module doc)."""
    spec = KINDS[kind]  # an unknown kind is a programming error
    if maker.kind not in spec.makers:
        if maker.kind == "token":
            raise errors.forbidden(
                "token-cannot-mint",
                f"an API token cannot create a {kind}; create it from a login session (assay login)",
            )
        raise errors.forbidden("credential-cannot-mint", f"a {maker.kind} cannot create a {kind}")
    if spec.has_role and not (role is None and spec.roleless):
        assert role is not None, f"a {kind} needs a role"
        check_role(role)
        if maker.role is None or RANK[role] > RANK[maker.role]:
            raise errors.forbidden(
                "role-above-own", f"cannot create a {role} {kind}: above your own role ({maker.role})"
            )
    if lifetime is None and not spec.open_ended:
        lifetime = spec.max_lifetime
    if lifetime is not None and not 0 < lifetime <= spec.max_lifetime:
        raise InputError("bad-duration", f"{kind} lifetimes are between 1 second and {_span(spec.max_lifetime)}")
    expires = now + lifetime if lifetime is not None else None
    parent = None
    if spec.bound:  # a derived credential never outlives the session or token that made it
        parent = maker.credential_id
        if maker.expires is not None:
            expires = min(expires, int(maker.expires)) if expires is not None else int(maker.expires)
    return Minted(kind, role if spec.has_role else None, expires, parent)


def _span(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hours"
    return f"{seconds} seconds"
