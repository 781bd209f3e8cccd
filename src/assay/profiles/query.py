"""The read API the dashboard (and anything else showing results) uses: one call per page, plain JSON.

``overview(engine, project[, after, limit])``  profiles with their overall status and entities (all or a page)
``profile_page(engine, project, name[, after, limit])``  a profile's document, version and entities' latest rows
``profile_summaries(engine, project)``  the profiles alone, their statuses counted by the database
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

PAGE = 100  # entities per page on the overview and profile pages


def _page(engine: Engine, project: str, after: int, limit: int | None) -> tuple[list[dict[str, Any]], int, int | None]:
    """Entities as JSON: every one (``limit`` None) or one page after the id ``after``."""
    if limit is None:
        every = [e.to_json() for e in records.list_entities(engine, project)]
        return every, len(every), None
    page, total, nxt = records.entity_page(engine, project, after, limit)
    return [e.to_json() for e in page], total, nxt


def profile_summaries(engine: Engine, project: str) -> list[dict[str, Any]]:
    """Every profile (name, version, alert, interval, update) with its status and counts, counted by the database."""
    counts = history.status_counts(engine, project, "profile")
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
        item.update(history.summary_of(counts.get(p.name, {})))
        out.append(item)
    return out


def overview(engine: Engine, project: str, *, after: int = 0, limit: int | None = None) -> dict[str, Any]:
    """Every profile with its status, and the entities (all, or a page of ``limit`` after ``after``) with theirs.

    ``entityCount`` is the project's total; ``nextEntity`` the cursor of the next page (None on the last).
    """
    entities, total, nxt = _page(engine, project, after, limit)
    ids = [int(e["id"]) for e in entities]
    counts = history.status_counts(engine, project, "entity_id", entity_ids=ids if limit is not None else None)
    for e in entities:
        e.update(history.summary_of(counts.get(int(e["id"]), {})))
    return {
        "project": project,
        "profiles": profile_summaries(engine, project),
        "entities": entities,
        "entityCount": total,
        "nextEntity": nxt,
    }


def profile_page(
    engine: Engine, project: str, name: str, *, after: int = 0, limit: int | None = None
) -> dict[str, Any]:
    """A profile and, per entity (all, or a page), its latest rows (LookupError when the profile does not exist)."""
    p = records.get_profile(engine, project, name)
    entities, total, nxt = _page(engine, project, after, limit)
    ids = [int(e["id"]) for e in entities]
    rows = (
        history.latest_of_entities(engine, project, ids, name)
        if limit is not None
        else history.latest(engine, project, name)
    )
    per_entity: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        per_entity.setdefault(int(r["entityId"]), []).append(r)
    per = []
    for e in entities:
        mine = per_entity.get(int(e["id"]), [])
        per.append({**e, **history.summary(mine), "rows": mine})
    counts = history.status_counts(engine, project, "profile", profile=name).get(name, {})
    return {
        "name": p.name,
        "version": int(p.version),
        "document": p.document,
        "alert": p.alert,
        "interval": int(p.interval),
        "nextRun": int(p.next_run),
        **history.summary_of(counts),
        "entities": per,
        "entityCount": total,
        "nextEntity": nxt,
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
