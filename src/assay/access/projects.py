"""Projects (a tree, soft-deleted) and per-project role grants; effective roles with inheritance."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, literal, select, update

from assay.access import errors
from assay.access.permissions import RANK, check_role, check_visibility, higher
from assay.errors import InputError
from assay.store.schema import grants, projects
from assay.store.txn import write_transaction

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
LOCK = 7234010
MAX_DEPTH = 32


@dataclass(frozen=True)
class Project:
    """A live project."""

    id: int
    name: str
    parent_id: int | None
    created: int
    created_by: str
    visibility: str = "members"


def check_name(name: str) -> str:
    """``name`` if it is a valid project name, else ``bad-project-name``."""
    if not NAME.fullmatch(name):
        raise InputError("bad-project-name", f"{name!r} is not a project name", hint="use [a-z0-9][a-z0-9-]{0,62}")
    return name


def project_of(row: Any) -> Project:
    """A ``projects`` row as a :class:`Project`."""
    return Project(row.id, row.name, row.parent_id, row.created, row.created_by, row.visibility)


def find(conn: Connection, name: str) -> Project:
    """The live project called ``name``, or ``unknown-project`` (404)."""
    row = conn.execute(select(projects).where(projects.c.name == name, projects.c.deleted.is_(None))).first()
    if row is None:
        raise errors.not_found("unknown-project", f"no project {name!r}")
    return project_of(row)


def lineage(conn: Connection, project: Project) -> list[int]:
    """The project's id followed by its ancestors' ids, nearest first."""
    ids = [project.id]
    parent = project.parent_id
    while parent is not None and len(ids) < MAX_DEPTH:
        ids.append(parent)
        parent = conn.execute(select(projects.c.parent_id).where(projects.c.id == parent)).scalar()
    return ids


def ancestry(conn: Connection, name: str) -> list[tuple[int, str]]:
    """(id, visibility) of the live project ``name`` and its ancestors, nearest first; [] if there is none.
    One recursive query whatever the depth, so a missing name costs what an existing one does."""
    anchor = (
        select(projects.c.id, projects.c.parent_id, projects.c.visibility, literal(0).label("depth"))
        .where(projects.c.name == name, projects.c.deleted.is_(None))
        .cte("up", recursive=True)
    )
    parent = projects.alias("parent")
    up = anchor.union_all(
        select(parent.c.id, parent.c.parent_id, parent.c.visibility, anchor.c.depth + 1).where(
            parent.c.id == anchor.c.parent_id, anchor.c.depth < MAX_DEPTH - 1
        )
    )
    return [(r.id, r.visibility) for r in conn.execute(select(up.c.id, up.c.visibility).order_by(up.c.depth))]


def granted_role(conn: Connection, ids: list[int], issuer: str, subject: str) -> str | None:
    """The highest role granted to an identity on any of ``ids`` (a project and its ancestors)."""
    rows = conn.execute(
        select(grants.c.role).where(
            grants.c.project_id.in_(ids), grants.c.issuer == issuer, grants.c.subject == subject
        )
    ).scalars()
    best: str | None = None
    for role in rows:
        best = higher(best, role)
    return best


class Projects:
    """Project and grant operations (authorisation is checked by the caller, roles by these methods)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, name: str, parent: str | None, actor: tuple[str, str], visibility: str = "members") -> Project:
        """Create a project (its creator becomes admin); ``project-exists`` if the name was ever used."""
        check_name(name)
        check_visibility(visibility)
        now = int(time.time())
        with write_transaction(self.engine, LOCK) as conn:
            parent_id = find(conn, parent).id if parent else None
            if conn.execute(select(projects.c.id).where(projects.c.name == name)).first() is not None:
                raise errors.conflict("project-exists", f"project {name!r} exists (or existed: names are not reused)")
            inserted = conn.execute(
                insert(projects).values(
                    name=name,
                    parent_id=parent_id,
                    created=now,
                    created_by=f"{actor[1]} ({actor[0]})",
                    visibility=visibility,
                )
            ).inserted_primary_key
            assert inserted is not None
            pid = inserted[0]
            conn.execute(
                insert(grants).values(
                    project_id=pid, issuer=actor[0], subject=actor[1], role="admin", created=now, created_by="creator"
                )
            )
        with self.engine.connect() as conn:
            return find(conn, name)

    def get(self, name: str) -> Project:
        """The live project ``name``."""
        with self.engine.connect() as conn:
            return find(conn, name)

    def set_visibility(self, name: str, visibility: str) -> Project:
        """Make a live project ``public`` or ``members``-only (its children keep their own setting)."""
        check_visibility(visibility)
        with write_transaction(self.engine, LOCK) as conn:
            p = find(conn, name)
            conn.execute(update(projects).where(projects.c.id == p.id).values(visibility=visibility))
        return self.get(name)

    def is_public(self, name: str) -> bool:
        """Whether the live project ``name`` is ``public`` (False for an unknown name: nothing is revealed)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(projects.c.visibility).where(projects.c.name == name, projects.c.deleted.is_(None))
            ).first()
        return row is not None and row.visibility == "public"

    def parent_name(self, project: Project) -> str | None:
        """The parent project's name, if any."""
        if project.parent_id is None:
            return None
        with self.engine.connect() as conn:
            return conn.execute(select(projects.c.name).where(projects.c.id == project.parent_id)).scalar()

    def visible(self, identity: tuple[str, str] | None) -> list[Project]:
        """Live projects: all of them (``identity`` None) or those where the identity holds a role, with descendants."""
        with self.engine.connect() as conn:
            rows = [project_of(r) for r in conn.execute(select(projects).where(projects.c.deleted.is_(None)))]
            if identity is None:
                return sorted(rows, key=lambda p: p.name)
            mine = set(
                conn.execute(
                    select(grants.c.project_id).where(grants.c.issuer == identity[0], grants.c.subject == identity[1])
                ).scalars()
            )
        by_id = {p.id: p for p in rows}

        def visible(p: Project) -> bool:
            seen = 0
            cur: Project | None = p
            while cur is not None and seen < MAX_DEPTH:
                if cur.id in mine:
                    return True
                cur = by_id.get(cur.parent_id) if cur.parent_id is not None else None
                seen += 1
            return False

        return sorted((p for p in rows if visible(p)), key=lambda p: p.name)

    def delete(self, name: str) -> None:
        """Soft-delete: the row (and the audit history naming it) stays; ``project-has-children`` if any live."""
        with write_transaction(self.engine, LOCK) as conn:
            p = find(conn, name)
            live_child = conn.execute(
                select(projects.c.id).where(projects.c.parent_id == p.id, projects.c.deleted.is_(None))
            ).first()
            if live_child is not None:
                raise errors.conflict("project-has-children", f"project {name!r} has live child projects")
            conn.execute(update(projects).where(projects.c.id == p.id).values(deleted=int(time.time())))

    def grants(self, name: str) -> list[dict[str, Any]]:
        """The project's own grants (inherited ones are listed on the ancestors)."""
        with self.engine.connect() as conn:
            p = find(conn, name)
            rows = conn.execute(select(grants).where(grants.c.project_id == p.id).order_by(grants.c.created))
            return [{"issuer": r.issuer, "subject": r.subject, "role": r.role, "created": r.created} for r in rows]

    def grant(self, name: str, issuer: str, subject: str, role: str, actor: Actor) -> None:
        """Grant (or change) a role; ``role-above-own`` above the granter's, ``last-admin`` for the last admin."""
        check_role(role)
        if not issuer or not subject:
            raise InputError("bad-identity", "an identity needs an issuer and a subject")
        with write_transaction(self.engine, LOCK) as conn:
            p = find(conn, name)
            key = and_(grants.c.project_id == p.id, grants.c.issuer == issuer, grants.c.subject == subject)
            keep_an_admin(conn, p, [(issuer, subject)], role)
            have = actor.role_now(conn, p, need="admin")
            if have is None or RANK[role] > RANK[have]:
                raise errors.forbidden("role-above-own", f"cannot grant {role}: above your own role ({have})")
            conn.execute(delete(grants).where(key))
            conn.execute(
                insert(grants).values(
                    project_id=p.id,
                    issuer=issuer,
                    subject=subject,
                    role=role,
                    created=int(time.time()),
                    created_by=actor.label,
                )
            )

    def revoke(self, name: str, issuer: str, subject: str, actor: Actor) -> None:
        """Remove a grant; ``last-admin`` if the project would be left without an admin."""
        with write_transaction(self.engine, LOCK) as conn:
            p = find(conn, name)
            key = and_(grants.c.project_id == p.id, grants.c.issuer == issuer, grants.c.subject == subject)
            if conn.execute(select(grants.c.role).where(key)).scalar() is None:
                raise errors.not_found("unknown-grant", f"{subject} ({issuer}) holds no role on {name!r}")
            keep_an_admin(conn, p, [(issuer, subject)], None)
            actor.role_now(conn, p, need="admin")
            conn.execute(delete(grants).where(key))

    def remove_identity(self, issuer: str, subject: str) -> int:
        """Remove every grant an identity holds (server administrators); ``last-admin`` naming the first
        project it would leave without an admin, and then nothing is removed. Returns the grants removed."""
        with write_transaction(self.engine, LOCK) as conn:
            held = conn.execute(
                select(grants.c.project_id).where(grants.c.issuer == issuer, grants.c.subject == subject)
            ).scalars()
            rows = conn.execute(
                select(projects).where(projects.c.id.in_(list(held)), projects.c.deleted.is_(None))
            ).all()
            for row in sorted(rows, key=lambda r: r.name):
                keep_an_admin(conn, project_of(row), [(issuer, subject)], None)
            return conn.execute(delete(grants).where(grants.c.issuer == issuer, grants.c.subject == subject)).rowcount


@dataclass(frozen=True)
class Actor:
    """Who changes grants, re-checked inside the write transaction (a role checked earlier may be stale)."""

    issuer: str
    subject: str
    label: str
    server_admin: bool = False
    cap: str | None = None  # the role the request was authorised with (an API token's role caps it too)

    def role_now(self, conn: Connection, project: Project, need: str | None = None) -> str | None:
        """The actor's role in ``project`` now, or ``insufficient-role`` when below ``need``."""
        if self.server_admin:
            have: str | None = "admin"
        else:
            have = granted_role(conn, lineage(conn, project), self.issuer, self.subject)
        if have is not None and self.cap is not None:
            have = self.cap if RANK[self.cap] < RANK[have] else have
        if need is not None and (have is None or RANK[have] < RANK[need]):
            raise errors.forbidden(
                "insufficient-role", f"member.write needs role {need} in project {project.name!r}; you have {have}"
            )
        return have


def keep_an_admin(conn: Connection, project: Project, changed: list[tuple[str, str]], new_role: str | None) -> None:
    """THE invariant that every project always has an admin, checked inside the write transaction of every
    change to grants: after ``changed`` identities' own grants on ``project`` become ``new_role`` (None:
    removed), some admin grant must remain on the project or an ancestor (children inherit it, so the
    project's descendants keep one too). ``last-admin`` (409) otherwise; the caller then changes nothing."""
    if new_role == "admin":
        return
    ids = lineage(conn, project)
    admins = conn.execute(
        select(grants.c.project_id, grants.c.issuer, grants.c.subject).where(
            grants.c.project_id.in_(ids), grants.c.role == "admin"
        )
    ).all()
    gone = {(project.id, issuer, subject) for issuer, subject in changed}
    if not admins or any((a.project_id, a.issuer, a.subject) not in gone for a in admins):
        return  # nothing to lose (a project without admins is not made worse), or one remains
    who = ", ".join(subject for _, subject in changed)
    raise errors.conflict("last-admin", f"{who} is the last admin of {project.name!r}: grant another admin first")
