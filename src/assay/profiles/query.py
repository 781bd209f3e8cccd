"""The read API the dashboard (and anything else showing results) uses: one call per page, plain JSON.

``overview(engine, project)``   profiles with their overall status and entities with theirs (the project page)
``profile_page(engine, project, name)``  a profile's document, version and every entity's rows (latest)
``entity_page(engine, project, entity_id)``  an entity, its digests seen, latest rows per profile and its timeline
``timeline(engine, project, ...)``  history rows, newest first, with the cursor of the next page

Statuses are ``success``, ``failure``, ``error``, ``skipped`` (and ``pending`` for a summary with no results
yet); a summary's status is the worst of its rows (failure > error > success > skipped). Times are milliseconds
since the epoch.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from assay.profiles import history, records


def _entities(engine: Engine, project: str) -> dict[int, dict[str, Any]]:
    return {e.id: e.to_json() for e in records.list_entities(engine, project)}


def _by(rows: list[dict[str, Any]], key: str) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r[key], []).append(r)
    return out


def overview(engine: Engine, project: str) -> dict[str, Any]:
    """Every profile (name, version, alert, interval, status, counts) and entity (with its status)."""
    rows = history.latest(engine, project)
    entities = _entities(engine, project)
    per_entity, per_profile = _by(rows, "entityId"), _by(rows, "profile")
    for eid, e in entities.items():
        e.update(history.summary(per_entity.get(eid, [])))
    out = []
    for p in records.profile_rows(engine, project):
        item = {
            "name": p.name,
            "version": int(p.version),
            "alert": p.alert,
            "interval": int(p.interval),
            "updated": int(p.updated),
            "updatedBy": p.updated_by,
        }
        item.update(history.summary(per_profile.get(p.name, [])))
        out.append(item)
    return {"project": project, "profiles": out, "entities": list(entities.values())}


def profile_page(engine: Engine, project: str, name: str) -> dict[str, Any]:
    """A profile and, per entity, its latest rows (LookupError when the profile does not exist)."""
    p = records.get_profile(engine, project, name)
    rows = history.latest(engine, project, name)
    entities = _entities(engine, project)
    per: list[dict[str, Any]] = []
    per_entity = _by(rows, "entityId")
    for eid, e in entities.items():
        mine = per_entity.get(eid, [])
        per.append({**e, **history.summary(mine), "rows": mine})
    return {
        "name": p.name,
        "version": int(p.version),
        "document": p.document,
        "alert": p.alert,
        "interval": int(p.interval),
        "nextRun": int(p.next_run),
        **history.summary(rows),
        "entities": per,
    }


def entity_page(engine: Engine, project: str, entity_id: int, limit: int = 100) -> dict[str, Any]:
    """An entity, the digests its results name (newest first), latest rows per profile, and its timeline."""
    entity = records.get_entity(engine, project, entity_id).to_json()
    rows = history.latest(engine, project, entity_id=entity_id)
    events, nxt = history.history(engine, project, entity_id=entity_id, limit=limit)
    digests: list[str] = []
    for r in sorted(rows, key=lambda r: -r["evaluated"]) + events:
        if r["digest"] and r["digest"] not in digests:
            digests.append(r["digest"])
    profiles: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        profiles.setdefault(r["profile"], []).append(r)
    return {
        **entity,
        **history.summary(rows),
        "digests": digests,
        "profiles": [{"name": n, **history.summary(rs), "rows": rs} for n, rs in sorted(profiles.items())],
        "timeline": events,
        "next": nxt,
    }


def timeline(engine: Engine, project: str, **filters: Any) -> tuple[list[dict[str, Any]], int | None]:
    """:func:`assay.profiles.history.history` (filters: profile, entity_id, entity, status, since, before, limit)."""
    return history.history(engine, project, **filters)
