"""Entities, profiles (every applied version kept) and alert sinks in the store."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, delete, func, select, update

from assay.errors import InputError
from assay.profiles.model import ENTITY_KINDS, Entity, Profile
from assay.store.schema import (
    alert_outbox,
    alert_sinks,
    profile_entities,
    profile_state,
    profile_versions,
    profiles,
    projects,
)
from assay.store.txn import write_transaction

SINK_KINDS = ("webhook", "slack")
MAX_TAG_GLOBS = 64


def now_ms() -> int:
    return int(time.time() * 1000)


# ---- entities ----------------------------------------------------------------------------------


def check_entity(kind: str, name: str, tags: list[str], tag_regexp: str | None) -> None:
    """Bad input for an entity: ``entity-bad-kind``, ``entity-bad-name``, ``entity-bad-tags``."""
    from assay.oci import reference

    if kind not in ENTITY_KINDS:
        raise InputError("entity-bad-kind", f"entity kind {kind!r}: use one of {', '.join(ENTITY_KINDS)}")
    if kind == "image":
        try:
            ref = reference.parse(name)
        except InputError as exc:
            raise InputError("entity-bad-name", f"image {name!r}: {exc.message}") from None
        if "@" in name or ":" in name.rsplit("/", 1)[-1] or ref.name != name:
            raise InputError(
                "entity-bad-name", f"image {name!r}: give REGISTRY/REPOSITORY (as {ref.name}), no tag or digest"
            )
        if len(tags) > MAX_TAG_GLOBS or not all(isinstance(t, str) and t for t in tags):
            raise InputError("entity-bad-tags", f"tags: at most {MAX_TAG_GLOBS} non-empty globs")
        if tags and tag_regexp:
            raise InputError("entity-bad-tags", "give tags or tagRegExp, not both")
        if tag_regexp is not None:
            try:
                re.compile(tag_regexp)
            except re.error as exc:
                raise InputError("entity-bad-tags", f"tagRegExp {tag_regexp!r} does not compile: {exc}") from None
    elif kind == "evidence-subject":
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", name):
            raise InputError("entity-bad-name", f"evidence subject {name!r}: give sha256:<64 hex>")
    elif not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,255}", name) or ".." in name:
        raise InputError("entity-bad-name", f"artifact name {name!r}: letters, digits, '.', '_', '+', '-'")
    if kind != "image" and (tags or tag_regexp):
        raise InputError("entity-bad-tags", "tags apply to image entities only")


def add_entity(engine: Engine, entity: Entity) -> Entity:
    """Insert an entity (``entity-exists`` if the project already watches it)."""
    with write_transaction(engine) as conn:
        found = conn.execute(
            select(profile_entities.c.id).where(
                profile_entities.c.project == entity.project,
                profile_entities.c.kind == entity.kind,
                profile_entities.c.name == entity.name,
            )
        ).first()
        if found is not None:
            raise InputError("entity-exists", f"{entity.kind} {entity.name} is already entity {found[0]}")
        row = conn.execute(
            profile_entities.insert()
            .values(
                project=entity.project,
                kind=entity.kind,
                name=entity.name,
                tags=json.dumps(list(entity.tags)),
                tag_regexp=entity.tag_regexp,
                insecure=int(entity.insecure),
                created=entity.created,
                created_by=entity.created_by,
            )
            .returning(profile_entities.c.id)
        ).first()
        assert row is not None
        conn.execute(update(profiles).where(profiles.c.project == entity.project).values(next_run=0))
    return Entity(int(row[0]), *_fields(entity))


def _fields(e: Entity) -> tuple[Any, ...]:
    return (e.project, e.kind, e.name, e.tags, e.tag_regexp, e.insecure, e.created, e.created_by)


def list_entities(engine: Engine, project: str) -> list[Entity]:
    """A project's entities, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(profile_entities).where(profile_entities.c.project == project).order_by(profile_entities.c.id)
        ).all()
    return [Entity.from_row(r) for r in rows]


def entity_page(engine: Engine, project: str, after: int = 0, limit: int = 100) -> tuple[list[Entity], int, int | None]:
    """A page of a project's entities by id (``after`` the last id seen): the page, the total, the next cursor."""
    c = profile_entities.c
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).where(c.project == project)).scalar_one())
        rows = conn.execute(
            select(profile_entities).where(c.project == project, c.id > after).order_by(c.id).limit(limit + 1)
        ).all()
    page = [Entity.from_row(r) for r in rows[:limit]]
    return page, total, (page[-1].id if len(rows) > limit else None)


def get_entity(engine: Engine, project: str, entity_id: int) -> Entity:
    """One entity of a project; LookupError when it is not there."""
    with engine.connect() as conn:
        row = conn.execute(
            select(profile_entities).where(profile_entities.c.project == project, profile_entities.c.id == entity_id)
        ).first()
    if row is None:
        raise LookupError(f"no entity {entity_id} in project {project}")
    return Entity.from_row(row)


def delete_entity(engine: Engine, project: str, entity_id: int) -> None:
    """Forget an entity and its latest state (its history stays); LookupError if it is not the project's."""
    with write_transaction(engine) as conn:
        gone = conn.execute(
            delete(profile_entities).where(profile_entities.c.project == project, profile_entities.c.id == entity_id)
        )
        if gone.rowcount != 1:
            raise LookupError(f"no entity {entity_id} in project {project}")
        conn.execute(
            delete(profile_state).where(profile_state.c.project == project, profile_state.c.entity_id == entity_id)
        )


# ---- profiles -------------------------------------------------------------------------------


def apply_profile(engine: Engine, project: str, profile: Profile, actor: str) -> dict[str, Any]:
    """Store a checked profile as its next version (unchanged text: same version) and make it due now."""
    t = now_ms()
    with write_transaction(engine) as conn:
        row = conn.execute(
            select(profiles.c.version, profiles.c.document).where(
                profiles.c.project == project, profiles.c.name == profile.name
            )
        ).first()
        if row is not None and row.document == profile.document:
            conn.execute(
                update(profiles)
                .where(profiles.c.project == project, profiles.c.name == profile.name)
                .values(next_run=0)
            )
            return {"name": profile.name, "version": int(row.version), "changed": False}
        version = 1 if row is None else int(row.version) + 1
        values = dict(
            version=version,
            document=profile.document,
            alert=profile.alert,
            interval=profile.interval,
            next_run=0,
            updated=t,
            updated_by=actor,
        )
        if row is None:
            conn.execute(profiles.insert().values(project=project, name=profile.name, **values))
        else:
            conn.execute(
                update(profiles).where(profiles.c.project == project, profiles.c.name == profile.name).values(**values)
            )
        conn.execute(
            profile_versions.insert().values(
                project=project,
                name=profile.name,
                version=version,
                document=profile.document,
                created=t,
                created_by=actor,
            )
        )
    return {"name": profile.name, "version": version, "changed": True}


def profile_rows(engine: Engine, project: str | None = None, name: str | None = None) -> list[Any]:
    """Stored profile rows (every project when ``project`` is None)."""
    q = select(profiles).order_by(profiles.c.project, profiles.c.name)
    if project is not None:
        q = q.where(profiles.c.project == project)
    if name is not None:
        q = q.where(profiles.c.name == name)
    with engine.connect() as conn:
        return list(conn.execute(q).all())


def due_profiles(engine: Engine, t: int) -> list[Any]:
    """Profiles whose next run has passed, of projects that still exist (a deleted project's are left alone)."""
    live = select(projects.c.name).where(projects.c.deleted.is_(None))
    q = select(profiles).where(profiles.c.next_run <= t, profiles.c.project.in_(live))
    with engine.connect() as conn:
        return list(conn.execute(q.order_by(profiles.c.next_run, profiles.c.project, profiles.c.name)).all())


def get_profile(engine: Engine, project: str, name: str) -> Any:
    """One profile row; LookupError when absent."""
    rows = profile_rows(engine, project, name)
    if not rows:
        raise LookupError(f"no profile {name} in project {project}")
    return rows[0]


def delete_profile(engine: Engine, project: str, name: str) -> None:
    """Remove a profile, its versions and latest state (its history stays, for the record)."""
    with write_transaction(engine) as conn:
        gone = conn.execute(delete(profiles).where(profiles.c.project == project, profiles.c.name == name))
        if gone.rowcount != 1:
            raise LookupError(f"no profile {name} in project {project}")
        conn.execute(
            delete(profile_versions).where(profile_versions.c.project == project, profile_versions.c.name == name)
        )
        conn.execute(delete(profile_state).where(profile_state.c.project == project, profile_state.c.profile == name))


def mark_due(engine: Engine, project: str, name: str | None = None) -> None:
    """Make a project's profiles (or one) due for evaluation now."""
    q = update(profiles).where(profiles.c.project == project)
    if name is not None:
        q = q.where(profiles.c.name == name)
    with write_transaction(engine) as conn:
        conn.execute(q.values(next_run=0))


def mark_due_for_digests(engine: Engine, project: str, digests: list[str]) -> int:
    """New evidence about ``digests``: profiles whose latest state names one of them are due now."""
    if not digests:
        return 0
    with engine.connect() as conn:
        names = {
            r[0]
            for r in conn.execute(
                select(profile_state.c.profile)
                .where(profile_state.c.project == project, profile_state.c.digest.in_(digests))
                .distinct()
            )
        }
    for name in names:
        mark_due(engine, project, name)
    return len(names)


# ---- alert sinks ----------------------------------------------------------------------------


def check_sink_url(url: object) -> str:
    """An http(s) URL with a host; else ``sink-bad-url``."""
    text = url if isinstance(url, str) else ""
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        host = None
    if not host or parts.scheme not in ("http", "https") or any(c in text for c in " \r\n\t"):
        raise InputError("sink-bad-url", f"sink URL {url!r} is not an http(s) URL")
    return str(url)


def add_sink(engine: Engine, project: str, name: str, kind: str, url: str, secret: str | None) -> dict[str, Any]:
    """Create or replace a project's alert sink."""
    if kind not in SINK_KINDS:
        raise InputError("sink-bad-kind", f"sink kind {kind!r}: use one of {', '.join(SINK_KINDS)}")
    check_sink_url(url)
    if secret is not None and (not isinstance(secret, str) or len(secret) < 16):
        raise InputError("sink-bad-secret", "a webhook secret is a string of at least 16 characters")
    with write_transaction(engine) as conn:
        conn.execute(delete(alert_sinks).where(alert_sinks.c.project == project, alert_sinks.c.name == name))
        conn.execute(
            alert_sinks.insert().values(project=project, name=name, kind=kind, url=url, secret=secret, created=now_ms())
        )
    return {"name": name, "kind": kind, "url": url, "signed": secret is not None}


def list_sinks(engine: Engine, project: str, with_secrets: bool = False) -> list[dict[str, Any]]:
    """A project's sinks (secrets only for the deliverer)."""
    with engine.connect() as conn:
        rows = conn.execute(select(alert_sinks).where(alert_sinks.c.project == project).order_by(alert_sinks.c.name))
        out = []
        for r in rows:
            item: dict[str, Any] = {"name": r.name, "kind": r.kind, "url": r.url, "signed": r.secret is not None}
            if with_secrets:
                item["secret"] = r.secret
            out.append(item)
    return out


def delete_sink(engine: Engine, project: str, name: str) -> None:
    """Remove a sink; its undelivered alerts are dropped with it."""
    with write_transaction(engine) as conn:
        gone = conn.execute(delete(alert_sinks).where(alert_sinks.c.project == project, alert_sinks.c.name == name))
        if gone.rowcount != 1:
            raise LookupError(f"no sink {name} in project {project}")
        conn.execute(
            delete(alert_outbox).where(
                alert_outbox.c.project == project, alert_outbox.c.sink == name, alert_outbox.c.state == "pending"
            )
        )
