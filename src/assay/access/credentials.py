"""Sessions and API tokens: issued once, stored as SHA-256 hashes, resolved to a principal and a role."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from assay.access import errors
from assay.access.mint import MAX_TOKEN_LIFETIME, SESSION_LIFETIME, Maker, mint
from assay.access.permissions import RANK, lower
from assay.access.projects import ancestry, find, granted_role, lineage
from assay.errors import InputError
from assay.store.schema import api_tokens, grants, identities, projects, sessions

TOKEN_PREFIX = "assay_t_"
SESSION_PREFIX = "assay_s_"
_FORM = re.compile(r"assay_([ts])_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
__all__ = ["MAX_TOKEN_LIFETIME", "SESSION_LIFETIME", "Credentials", "Principal", "anonymous", "parse_duration"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: an identity, through a session or a token, and its role in the addressed project."""

    issuer: str
    subject: str
    email: str | None
    kind: str  # "session" | "token" | "anonymous" (no credentials, only on a public project's public reads)
    credential_id: str
    server_admin: bool = False
    token_project_id: int | None = None
    token_role: str | None = None
    project: str | None = None
    role: str | None = None
    expires: float | None = None

    @property
    def actor(self) -> str:
        """``subject (issuer)``, as the audit log names people (``anonymous`` without credentials)."""
        if self.kind == "anonymous":
            return "anonymous"
        return f"{self.subject} ({self.issuer})"

    @property
    def token_id(self) -> str | None:
        """The API token's id, when the caller used one."""
        return self.credential_id if self.kind == "token" else None

    def with_role(self, project: str, role: str | None) -> Principal:
        """This principal, scoped to ``project``."""
        return replace(self, project=project, role=role)


@dataclass(frozen=True)
class Standing:
    """A principal's standing in a project: it exists, it is public, the role held (None: none)."""

    exists: bool
    public: bool
    role: str | None
    wrong_project: bool = False  # an API token for a project outside this one's lineage


def anonymous(project: str) -> Principal:
    """The caller without credentials, scoped to a public ``project`` with no role in it."""
    return Principal("", "anonymous", None, "anonymous", "anonymous", project=project)


def _secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _mint(prefix: str) -> tuple[str, str, bytes]:
    ident = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return ident, f"{prefix}{ident}_{secret}", _secret_hash(secret)


def parse_duration(text: str) -> int:
    """``30d``, ``12h``, ``45m``, ``90s`` -> seconds (``bad-duration`` otherwise)."""
    m = re.fullmatch(r"(\d{1,6})([smhd])", text.strip())
    if not m:
        raise InputError("bad-duration", f"{text!r} is not a duration", hint="use e.g. 30d, 12h, 45m")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


class Credentials:
    """Issuing, resolving and revoking sessions and tokens."""

    def __init__(self, engine: Engine, server_admins: frozenset[tuple[str, str]] = frozenset()) -> None:
        self.engine = engine
        self.server_admins = server_admins

    # ---- sessions -----------------------------------------------------------------------

    def open_session(
        self, issuer: str, subject: str, email: str | None, lifetime: int = SESSION_LIFETIME
    ) -> dict[str, Any]:
        """A new session for a verified identity; the secret is returned once."""
        now = int(time.time())
        minted = mint("session", Maker("identity"), role=None, lifetime=lifetime, now=now)
        assert minted.expires is not None
        ident, token, digest = _mint(SESSION_PREFIX)
        with self.engine.begin() as conn:
            conn.execute(
                insert(sessions).values(
                    id=ident,
                    secret_hash=digest,
                    issuer=issuer,
                    subject=subject,
                    email=email,
                    created=now,
                    expires=minted.expires,
                )
            )
            seen = conn.execute(
                update(identities)
                .where(identities.c.issuer == issuer, identities.c.subject == subject)
                .values(last_seen=now, email=email)
            ).rowcount
            if not seen:
                conn.execute(
                    insert(identities).values(
                        issuer=issuer, subject=subject, email=email, first_seen=now, last_seen=now
                    )
                )
        return {"session": token, "id": ident, "expires": minted.expires, "issuer": issuer, "subject": subject}

    def close_session(self, session_id: str) -> None:
        """Revoke a session."""
        with self.engine.begin() as conn:
            conn.execute(update(sessions).where(sessions.c.id == session_id).values(revoked=int(time.time())))

    # ---- resolving ----------------------------------------------------------------------

    def authenticate(self, bearer: str) -> Principal:
        """The principal behind a bearer credential, or a 401 with a reason code."""
        m = _FORM.fullmatch(bearer)
        if m is None:
            if bearer.startswith(TOKEN_PREFIX):
                raise errors.unauthenticated("token-malformed", "the API token is malformed")
            if bearer.startswith(SESSION_PREFIX):
                raise errors.unauthenticated("session-malformed", "the session token is malformed")
            raise errors.unauthenticated(
                "credential-malformed", "the bearer credential is not an assay session or token"
            )
        kind, ident, secret = m.groups()
        now = time.time()
        with self.engine.connect() as conn:
            if kind == "s":
                row = conn.execute(select(sessions).where(sessions.c.id == ident)).first()
                if row is None or not hmac.compare_digest(row.secret_hash, _secret_hash(secret)):
                    raise errors.unauthenticated("session-invalid", "no such session (forged or from another server)")
                if row.revoked is not None:
                    raise errors.unauthenticated("session-revoked", "the session was closed; log in again")
                if row.expires <= now:
                    raise errors.unauthenticated("session-expired", "the session has expired; log in again")
                return Principal(
                    row.issuer,
                    row.subject,
                    row.email,
                    "session",
                    ident,
                    (row.issuer, row.subject) in self.server_admins,
                    expires=row.expires,
                )
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == ident)).first()
            if row is None or not hmac.compare_digest(row.secret_hash, _secret_hash(secret)):
                raise errors.unauthenticated("token-invalid", "no such API token (forged or from another server)")
            if row.revoked is not None:
                raise errors.unauthenticated("token-revoked", "the API token was revoked")
            if row.expires is not None and row.expires <= now:
                raise errors.unauthenticated("token-expired", "the API token has expired")
            return Principal(
                row.issuer,
                row.subject,
                None,
                "token",
                ident,
                False,
                token_project_id=row.project_id,
                token_role=row.role,
                expires=row.expires,
            )

    def principal_of(self, kind: str, ident: str) -> Principal:
        """The principal behind a session or token named by id (for credentials derived from it, such as
        registry refresh tokens): 401 when it is unknown, revoked or expired, exactly as presenting it would."""
        now = time.time()
        table = sessions if kind == "session" else api_tokens
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.id == ident)).first()
        if row is None or kind not in ("session", "token"):
            raise errors.unauthenticated("credential-unknown", "the credential this was derived from is gone")
        if row.revoked is not None:
            raise errors.unauthenticated(f"{kind}-revoked", f"the {kind} this was derived from was revoked")
        if row.expires is not None and row.expires <= now:
            raise errors.unauthenticated(f"{kind}-expired", f"the {kind} this was derived from has expired")
        if kind == "session":
            admin = (row.issuer, row.subject) in self.server_admins
            return Principal(row.issuer, row.subject, row.email, "session", ident, admin, expires=row.expires)
        return Principal(
            row.issuer, row.subject, None, "token", ident, False,
            token_project_id=row.project_id, token_role=row.role, expires=row.expires,
        )  # fmt: skip

    def standing(self, principal: Principal, project_name: str) -> Standing:
        """Whether the project exists, is public, and the principal's role in it (grants inherited from
        ancestors; tokens capped by their creator's current role). A missing project costs the same queries
        as one the caller may not read, so the answer's timing does not tell them apart."""
        with self.engine.connect() as conn:
            chain = ancestry(conn, project_name)
            ids = [pid for pid, _ in chain] or [-1]  # the same grant query follows, matching nothing
            exists, public = bool(chain), bool(chain) and chain[0][1] == "public"
            if principal.kind != "token":
                role = granted_role(conn, ids, principal.issuer, principal.subject)
                return Standing(exists, public, "admin" if principal.server_admin else role)
            home = ids[ids.index(principal.token_project_id) :] if principal.token_project_id in ids else ids
            creator = granted_role(conn, home, principal.issuer, principal.subject)
            if principal.token_project_id not in ids:
                return Standing(exists, public, None, wrong_project=True)
            if (principal.issuer, principal.subject) in self.server_admins:
                return Standing(exists, public, principal.token_role)
            return Standing(exists, public, lower(str(principal.token_role), creator) if creator else None)

    def role_in(self, principal: Principal, project_name: str) -> str | None:
        """The principal's effective role in a project; ``unknown-project`` (404) or ``token-wrong-project``."""
        st = self.standing(principal, project_name)
        if not st.exists:
            raise errors.not_found("unknown-project", f"no project {project_name!r}")
        if st.wrong_project:
            raise errors.forbidden("token-wrong-project", f"this API token is not for project {project_name!r}")
        return st.role

    def _token_role(self, conn: Connection, principal: Principal) -> str | None:
        """min(token role, its creator's current role where the token was made)."""
        assert principal.token_role is not None and principal.token_project_id is not None
        if (principal.issuer, principal.subject) in self.server_admins:
            return principal.token_role
        row = conn.execute(select(projects).where(projects.c.id == principal.token_project_id)).first()
        if row is None or row.deleted is not None:
            return None
        home = find(conn, row.name)
        creator = granted_role(conn, lineage(conn, home), principal.issuer, principal.subject)
        return lower(principal.token_role, creator) if creator else None

    def any_role_at_least(self, principal: Principal, role: str) -> bool:
        """Whether the principal holds ``role`` or higher in some project (for project-less checks)."""
        if principal.server_admin:
            return True
        with self.engine.connect() as conn:
            if principal.kind == "token":
                have = self._token_role(conn, principal)
                return have is not None and RANK[have] >= RANK[role]
            held = conn.execute(
                select(grants.c.role).where(grants.c.issuer == principal.issuer, grants.c.subject == principal.subject)
            ).scalars()
            return any(RANK[r] >= RANK[role] for r in held)

    # ---- API tokens ---------------------------------------------------------------------

    def create_token(
        self, principal: Principal, project_name: str, role: str, expires_in: int | None, name: str
    ) -> dict[str, Any]:
        """Issue a token for a project as :func:`assay.access.mint.mint` decides; the secret is returned once."""
        if len(name) > 128:
            raise InputError("bad-token-name", "token names are at most 128 characters")
        now = int(time.time())
        # only a session may make one; a token is refused by mint() before its role is even looked up
        have = self.role_in(principal, project_name) if principal.kind == "session" else None
        maker = Maker(principal.kind, principal.credential_id, have, principal.expires)
        minted = mint("api-token", maker, role=role, lifetime=expires_in, now=now)
        ident, token, digest = _mint(TOKEN_PREFIX)
        with self.engine.begin() as conn:
            project = find(conn, project_name)
            conn.execute(
                insert(api_tokens).values(
                    id=ident,
                    secret_hash=digest,
                    project_id=project.id,
                    role=minted.role,
                    name=name or ident,
                    issuer=principal.issuer,
                    subject=principal.subject,
                    created=now,
                    expires=minted.expires,
                )
            )
        return {
            "token": token,
            "id": ident,
            "project": project_name,
            "role": minted.role,
            "name": name or ident,
            "expires": minted.expires,
        }

    def list_tokens(self, project_name: str, owner: tuple[str, str] | None) -> list[dict[str, Any]]:
        """Tokens of a project (all, or only ``owner``'s); never their secrets."""
        with self.engine.connect() as conn:
            project = find(conn, project_name)
            q = select(api_tokens).where(api_tokens.c.project_id == project.id)
            if owner is not None:
                q = q.where(api_tokens.c.issuer == owner[0], api_tokens.c.subject == owner[1])
            return [
                {
                    "id": r.id,
                    "name": r.name,
                    "role": r.role,
                    "owner": f"{r.subject} ({r.issuer})",
                    "created": r.created,
                    "expires": r.expires,
                    "revoked": r.revoked,
                }
                for r in conn.execute(q.order_by(api_tokens.c.created))
            ]

    def revoke_token(self, project_name: str, token_id: str, principal: Principal, is_admin: bool) -> None:
        """Revoke a token of this project: its owner or a project admin may."""
        with self.engine.begin() as conn:
            project = find(conn, project_name)
            row = conn.execute(
                select(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.project_id == project.id)
            ).first()
            if row is None:
                raise errors.not_found("unknown-token", f"project {project_name!r} has no token {token_id!r}")
            if not is_admin and (row.issuer, row.subject) != (principal.issuer, principal.subject):
                raise errors.forbidden("not-token-owner", "only the token's creator or a project admin may revoke it")
            conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked=int(time.time())))
