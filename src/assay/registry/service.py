"""The token service at the I/O edge: who is asking, what each scope grants, minting, signing and the audit.

Credentials: an assay API token or session (as the HTTP basic password, any user name, or as a bearer), a CI
OIDC ID token presented the same way (verified as the CA verifies keyless tokens: issuer, signature, audience,
times; its (issuer, subject) then matched against the project's grants like any identity), a refresh token
this service issued, or none (anonymous: a public project's pulls only).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from assay.access import audit
from assay.access.credentials import SESSION_PREFIX, TOKEN_PREFIX, Principal, anonymous
from assay.access.errors import AccessError
from assay.access.gate import CACHE_MAX, CACHE_TTL, Access
from assay.access.mint import Maker, mint
from assay.access.permissions import RANK
from assay.access.projects import MAX_DEPTH, NAME
from assay.ca.oidc import TokenVerifier
from assay.errors import AssayError
from assay.registry import grant, pushpolicy
from assay.registry.scope import Scope, parse_scopes
from assay.registry.token import TokenKey, claims, read_refresh, refresh_claims, sign
from assay.store.schema import projects, registry_push_policies
from assay.store.txn import write_transaction

MAX_CREDENTIAL = 16384
MAKER_KIND = {"session": "session", "token": "token", "oidc": "identity", "anonymous": "anonymous"}


class Refused(Exception):
    """A request answered with the registry spec's error JSON: status, error code, reason code, message."""

    def __init__(self, status: int, code: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.reason, self.message = status, code, reason, message

    def to_json(self) -> dict[str, Any]:
        """``{"errors": [{code, message, detail}]}`` plus assay's ``reason``."""
        detail = {"reason": self.reason}
        return {"errors": [{"code": self.code, "message": self.message, "detail": detail}], "reason": self.reason}


def unauthorized(reason: str, message: str) -> Refused:
    """401 UNAUTHORIZED."""
    return Refused(401, "UNAUTHORIZED", reason, message)


@dataclass(frozen=True)
class Caller:
    """An authenticated (or anonymous) caller and, for a CI ID token, its verified claims."""

    principal: Principal
    claims: dict[str, Any] | None = None


def split_authorization(header: str | None) -> str | None:
    """The secret in ``Authorization: Basic base64(user:secret)`` or ``Bearer secret`` (None: no header)."""
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if len(value) > MAX_CREDENTIAL:
        raise Refused(400, "UNAUTHORIZED", "credential-too-large", "the credential is too large")
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            raw = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise Refused(400, "UNAUTHORIZED", "basic-auth-malformed", "the basic credentials are not base64") from None
        _, sep, password = raw.partition(":")
        if not sep:
            raise Refused(400, "UNAUTHORIZED", "basic-auth-malformed", "basic credentials are user:password")
        return password
    raise unauthorized("credential-malformed", "use HTTP basic (any user, the token as password) or Bearer")


class TokenService:
    """Deciding, minting, signing and auditing registry tokens for one server."""

    def __init__(
        self,
        access: Access,
        key: TokenKey,
        issuer: str,
        services: Callable[[], set[str]],
        verifier: TokenVerifier,
        lifetime: int = 300,
    ) -> None:
        self.access, self.key, self.issuer, self.services = access, key, issuer, services
        self.verifier, self.lifetime = verifier, lifetime
        self.engine: Engine = access.engine
        self.appender = access.audit_group
        self._policies: dict[str, tuple[pushpolicy.PushPolicy, float]] = {}

    # ---- who ------------------------------------------------------------------------

    async def caller(self, secret: str | None, address: str) -> Caller:
        """The caller behind a credential (anonymous without one), or :class:`Refused` 401."""
        if secret is None:
            return Caller(anonymous(""))
        if secret.startswith((TOKEN_PREFIX, SESSION_PREFIX)):
            try:
                return Caller(self.access.authenticate(secret, address))
            except AccessError as exc:
                raise unauthorized(exc.reason, exc.message) from None
        if secret.count(".") == 2:
            try:
                issuer, found = await self.verifier.verify(secret)
            except AssayError as exc:
                raise unauthorized(exc.reason, exc.message) from None
            iss, sub = issuer.url.rstrip("/"), str(found["sub"])
            digest = hashlib.sha256(secret.encode()).hexdigest()[:16]
            admin = (iss, sub) in self.access.server_admins
            email = found.get("email") if isinstance(found.get("email"), str) else None
            principal = Principal(iss, sub, email, "oidc", f"oidc:{digest}", admin, expires=float(found["exp"]))
            return Caller(principal, found)
        raise unauthorized("credential-malformed", "the password is not an assay token, session or CI ID token")

    def refreshed(self, refresh_token: str, service: str) -> Caller:
        """The caller a refresh token stands for, if the credential it came from is still valid."""
        try:
            doc = read_refresh(self.key, refresh_token, issuer=self.issuer, service=service)
            cred = doc["assay_cred"]
            return Caller(self.access.credentials.principal_of(str(cred.get("kind")), str(cred["id"])))
        except AssayError as exc:
            raise unauthorized(exc.reason, exc.message) from None
        except AccessError as exc:
            raise unauthorized(exc.reason, exc.message) from None

    def check_service(self, service: str | None) -> str:
        """The service if this server issues tokens for it, else 401 ``service-unknown``."""
        if not service:
            raise unauthorized("service-missing", "the token request names no service")
        if service not in self.services():
            raise unauthorized("service-unknown", f"no registry service {service[:80]!r} is configured here")
        return service

    # ---- what -----------------------------------------------------------------------

    def _owner(self, name: str) -> str | None:
        """The project owning repository ``name``: its first component, then child projects along the path."""
        parts = name.split("/")
        if len(parts) < 2 or not NAME.fullmatch(parts[0]):
            return None
        owner = parts[0]
        if len(parts) > 2:
            parent, child = projects.alias("parent"), projects.alias("child")
            with self.engine.connect() as conn:
                for part in parts[1:-1]:
                    if not NAME.fullmatch(part):
                        break
                    found = conn.execute(
                        select(child.c.name)
                        .join(parent, child.c.parent_id == parent.c.id)
                        .where(child.c.name == part, parent.c.name == owner)
                        .where(child.c.deleted.is_(None), parent.c.deleted.is_(None))
                    ).first()
                    if found is None:
                        break
                    owner = part
        return owner

    def push_policy(self, project: str) -> pushpolicy.PushPolicy:
        """The project's push rule (``any`` unless one was set); cached as briefly as the access checks are
        (a change made here applies at once, one made by another process within ``CACHE_TTL``)."""
        hit = self._policies.get(project)
        if hit is not None and hit[1] >= time.monotonic():
            return hit[0]
        policy = self._read_policy(project)
        if len(self._policies) >= CACHE_MAX:
            self._policies.clear()
        self._policies[project] = (policy, time.monotonic() + CACHE_TTL)
        return policy

    def _read_policy(self, project: str) -> pushpolicy.PushPolicy:
        """The nearest rule along the project's ancestry (a child is as closed as its parent unless it says
        otherwise)."""
        t = registry_push_policies
        with self.engine.connect() as conn:
            row = conn.execute(
                select(projects.c.name, projects.c.parent_id).where(
                    projects.c.name == project, projects.c.deleted.is_(None)
                )
            ).first()
            for _ in range(MAX_DEPTH):
                if row is None:
                    break
                doc = conn.execute(select(t.c.document).where(t.c.project == row.name)).scalar()
                if doc:
                    return pushpolicy.parse(json.loads(doc))
                if row.parent_id is None:
                    break
                row = conn.execute(
                    select(projects.c.name, projects.c.parent_id).where(projects.c.id == row.parent_id)
                ).first()
        return pushpolicy.PushPolicy()

    def set_push_policy(self, project: str, policy: pushpolicy.PushPolicy, actor: str) -> None:
        """Store the project's push rule."""
        doc = json.dumps(policy.to_json(), sort_keys=True)
        t = registry_push_policies
        with write_transaction(self.engine) as conn:
            conn.execute(t.delete().where(t.c.project == project))
            conn.execute(t.insert().values(project=project, document=doc, updated=int(time.time()), updated_by=actor))
        self._policies.clear()

    def decide(self, caller: Caller, scope: Scope) -> grant.Decision:
        """One scope's grant for the caller."""
        p = caller.principal
        if scope.base_type == "registry":
            return grant.decide_catalog(scope, p.server_admin)
        if scope.base_type != "repository":
            return grant.decide_unknown(scope)
        project = self._owner(scope.name)
        if project is None:
            return grant.decide_repository(scope, grant.Standing(None, False, False, None))
        st = self.access.standing(p, project)
        role = None if st.wrong_project else st.role
        refusal = None
        if st.exists and ("push" in scope.actions or "*" in scope.actions):
            policy = self.push_policy(project)
            refusal = pushpolicy.push_refusal(policy, p.kind, p.issuer, caller.claims)
        return grant.decide_repository(scope, grant.Standing(project, st.exists, st.public, role, refusal))

    # ---- issuing --------------------------------------------------------------------

    def issue(
        self,
        caller: Caller,
        service: str,
        scope_values: list[str],
        *,
        address: str = "",
        request_id: str = "",
        offline: bool = False,
    ) -> dict[str, Any]:
        """Decide every asked scope, mint and sign the token, audit it; the token endpoint's JSON answer."""
        p = caller.principal
        scopes = parse_scopes(scope_values)
        decisions = [self.decide(caller, s) for s in scopes]
        now = int(time.time())
        expires = now + self.lifetime
        roles: dict[str | None, str | None] = {}
        for d in decisions:
            if d.granted and d.role is not None:
                have = roles.get(d.project)
                roles[d.project] = d.role if have is None else max(have, d.role, key=RANK.__getitem__)
        for project, role in roles.items() or [(None, None)]:
            held = self.access.standing(p, project).role if project and p.kind != "anonymous" else None
            maker = Maker(MAKER_KIND[p.kind], p.credential_id, held, p.expires)
            minted = mint("registry-token", maker, role=role, lifetime=self.lifetime, now=now)
            assert minted.expires is not None
            expires = min(expires, minted.expires)
        granted = [a for d in decisions if (a := d.access) is not None]
        body = claims(
            issuer=self.issuer, subject="" if p.kind == "anonymous" else p.subject, service=service,
            access=granted, issued=now, expires=expires,
        )  # fmt: skip
        token = sign(self.key, body)
        self._audit(p, service, decisions, address, request_id)
        answer: dict[str, Any] = {
            "token": token,
            "access_token": token,
            "expires_in": max(1, expires - now),
            "issued_at": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "scope": " ".join(str(a) for a in granted),
        }
        if offline and p.kind in ("session", "token"):
            answer["refresh_token"] = self._refresh(p, service, now)
        return answer

    def _refresh(self, p: Principal, service: str, now: int) -> str:
        minted = mint(
            "registry-refresh", Maker(p.kind, p.credential_id, None, p.expires), role=None, lifetime=None, now=now
        )
        assert minted.expires is not None and minted.parent is not None
        body = refresh_claims(
            issuer=self.issuer, subject=p.subject, service=service, kind=p.kind, credential=minted.parent,
            issued=now, expires=minted.expires,
        )  # fmt: skip
        return sign(self.key, body)

    def _audit(
        self, p: Principal, service: str, decisions: list[grant.Decision], address: str, request_id: str
    ) -> None:
        events = []
        by_project: dict[str | None, list[grant.Decision]] = {}
        for d in decisions:
            by_project.setdefault(d.project, []).append(d)
        for project, group in by_project.items() or [(None, [])]:
            refused = [r for d in group for r in d.refused.values()]
            any_granted = any(d.granted for d in group)
            result = "ok" if not refused else (f"partial:{refused[0]}" if any_granted else f"refused:403:{refused[0]}")
            asked = " ".join(str(d.asked) for d in group)
            given = " ".join(str(a) for d in group if (a := d.access) is not None)
            events.append(
                audit.Event(
                    actor=p.actor, action="registry.token", result=result,
                    target=f"service={service} asked=[{asked}] granted=[{given}]", project=project,
                    token_id=p.token_id, request_id=request_id, address=address,
                )
            )  # fmt: skip
        self.appender.append(events)

    def audit_refusal(self, p: Principal | None, refusal: Refused, address: str, request_id: str) -> None:
        """A request refused before any scope was decided (bad credentials, service, scope): audited, nothing
        granted."""
        self.appender.append([
            audit.Event(
                actor=p.actor if p else "anonymous", action="registry.token",
                result=f"refused:{refusal.status}:{refusal.reason}", target="", project=None,
                token_id=p.token_id if p else None, request_id=request_id, address=address,
            )
        ])  # fmt: skip
