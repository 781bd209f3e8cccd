"""One object the server holds: credentials, projects, the audit log and the rate limits, and the decision."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine

from assay.access import errors
from assay.access.audit import AuditLog
from assay.access.auditgroup import GroupAppender
from assay.access.credentials import Credentials, Principal, Standing, anonymous
from assay.access.permissions import RANK, min_role, public_read
from assay.access.projects import Projects
from assay.access.ratelimit import Buckets

# Successful checks are remembered this long per process; a local change clears them at once,
# a change made through another process sharing the database is seen within this delay.
CACHE_TTL = 1.0
CACHE_MAX = 50_000


class RateLimited(errors.AccessError):
    """429 with the seconds to wait."""

    def __init__(self, reason: str, message: str, retry_after: float) -> None:
        super().__init__(429, reason, message)
        self.retry_after = max(1, int(retry_after + 0.999))


@dataclass
class Access:
    """The access-control state of one server process."""

    engine: Engine
    server_admins: frozenset[tuple[str, str]] = frozenset()
    write_rate: tuple[float, float] | None = None
    login_rate: tuple[float, float] = (2.0, 120.0)
    projects: Projects = field(init=False)
    credentials: Credentials = field(init=False)
    audit: AuditLog = field(init=False)
    audit_group: GroupAppender = field(init=False)  # the audited writes' rows, group-committed

    def __post_init__(self) -> None:
        self.projects = Projects(self.engine)
        self.credentials = Credentials(self.engine, self.server_admins)
        self.audit = AuditLog(self.engine)
        self.audit_group = GroupAppender(self.audit)
        self.writes_by_identity = Buckets(*self.write_rate) if self.write_rate else None
        self.writes_by_address = Buckets(*self.write_rate) if self.write_rate else None
        self.logins = Buckets(*self.login_rate)
        self.failures = Buckets(*self.login_rate)
        self._principals: dict[str, tuple[Principal, float]] = {}
        self._roles: dict[tuple[str, str], tuple[Standing, float]] = {}
        self._public: dict[str, tuple[bool, float]] = {}
        self._cache_lock = threading.Lock()

    def invalidate(self) -> None:
        """Forget cached checks (after any change to projects, grants, tokens or sessions)."""
        with self._cache_lock:
            self._principals.clear()
            self._roles.clear()
            self._public.clear()

    def _cached(self, bearer: str) -> Principal | None:
        hit = self._principals.get(bearer)
        if hit is None or hit[1] < time.monotonic():
            return None
        if hit[0].expires is not None and hit[0].expires <= time.time():
            return None
        return hit[0]

    def _remember(self, bearer: str, principal: Principal) -> None:
        with self._cache_lock:
            if len(self._principals) >= CACHE_MAX:
                self._principals.clear()
            self._principals[bearer] = (principal, time.monotonic() + CACHE_TTL)

    def standing(self, principal: Principal, project: str) -> Standing:
        """The principal's standing in ``project`` (briefly cached, a missing project as much as any)."""
        key = (principal.credential_id, project)
        hit = self._roles.get(key)
        if hit is not None and hit[1] >= time.monotonic():
            return hit[0]
        standing = self.credentials.standing(principal, project)
        with self._cache_lock:
            if len(self._roles) >= CACHE_MAX:
                self._roles.clear()
            self._roles[key] = (standing, time.monotonic() + CACHE_TTL)
        return standing

    def opens(self, action: str, project: str | None) -> bool:
        """Whether ``project`` is public and ``action`` one of the reads that opens to anyone (briefly cached)."""
        if project is None or not public_read(action):
            return False
        hit = self._public.get(project)
        if hit is not None and hit[1] >= time.monotonic():
            return hit[0]
        public = self.projects.is_public(project)
        with self._cache_lock:
            if len(self._public) >= CACHE_MAX:
                self._public.clear()
            self._public[project] = (public, time.monotonic() + CACHE_TTL)
        return public

    def anonymous(self, action: str, project: str | None) -> Principal | None:
        """The anonymous principal when a caller without credentials may perform ``action``, else None."""
        return anonymous(project) if project is not None and self.opens(action, project) else None

    def authenticate(self, bearer: str | None, address: str) -> Principal:
        """The caller, or 401 (or 429 once an address has failed too often)."""
        wait = self.failures.peek(address)
        if wait > 0:
            raise RateLimited("too-many-failures", "too many failed authentications from this address", wait)
        if not bearer:
            raise errors.unauthenticated("credentials-missing", "this endpoint needs Authorization: Bearer <token>")
        cached = self._cached(bearer)
        if cached is not None:
            return cached
        try:
            principal = self.credentials.authenticate(bearer)
        except errors.AccessError:
            self.failures.take(address)
            raise
        self._remember(bearer, principal)
        return principal

    def limit_login(self, address: str) -> None:
        """The separate, stricter bucket for login and token issuing."""
        wait = self.logins.take(address)
        if wait > 0:
            raise RateLimited("rate-limited", "too many login or token requests from this address", wait)

    def limit_write(self, principal: Principal, address: str) -> None:
        """Per-identity and per-address buckets on writes (when configured)."""
        if self.writes_by_identity is None or self.writes_by_address is None:
            return
        for buckets, key in ((self.writes_by_identity, principal.actor), (self.writes_by_address, address)):
            wait = buckets.take(key)
            if wait > 0:
                raise RateLimited("rate-limited", "too many writes; slow down", wait)

    def authorize(self, principal: Principal, action: str, project: str | None) -> Principal:
        """The principal scoped to ``project`` with its role, or 403/404 with a reason.

        A project the caller may not read (no role, not public) does not exist for them: the same 404
        ``unknown-project`` as a missing one, after the same work. A member without enough role, or
        anyone on a public project, gets 403 naming the permission."""
        need = min_role(action)
        if project is not None:
            st = self.standing(principal, project)
            if not st.exists or (st.role is None and not st.public):
                raise errors.not_found("unknown-project", f"no project {project!r}")
            public = st.public and public_read(action)
            if st.wrong_project and not public:
                raise errors.forbidden("token-wrong-project", f"this API token is not for project {project!r}")
            role = st.role  # a token for another project reads a public project like anyone else
            principal = principal.with_role(project, role)
            if need == "server_admin":
                ok = principal.server_admin
            else:
                ok = public or need == "authenticated" or (role is not None and RANK[role] >= RANK[need])
        elif need == "authenticated":
            ok = True
        elif need == "server_admin":
            ok = principal.server_admin
        else:
            ok = self.credentials.any_role_at_least(principal, need)
        if not ok:
            if need == "server_admin":
                raise errors.forbidden("not-server-admin", f"{action} needs a server administrator")
            where = f"in project {project!r}" if project else "in some project"
            have = principal.role if project else None
            raise errors.forbidden(
                "insufficient-role", f"{action} needs role {need} {where}; you have {have or 'no role'}"
            )
        return principal
