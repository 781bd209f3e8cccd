"""Evaluation results: the latest state per (profile, entity, target, rule) and the history of changes.

A history row is written when a (profile, entity, target, rule)'s status, reason or digest changes, or the
profile's version does (the first result included); unchanged re-evaluations only move the state's ``evaluated`` time, so history grows with
events, not with the clock. The query functions at the bottom are what the API and the dashboard read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, select, update

from assay.profiles.model import Entity
from assay.store.schema import profile_history, profile_state
from assay.store.txn import write_transaction

MAX_PAGE = 1000


@dataclass
class Outcome:
    """One rule's result for one target of an entity (a tag of an image, a version of an artifact)."""

    target: str
    digest: str | None
    rule: str
    status: str  # success | failure | error | skipped
    reason: str = ""
    message: str = ""
    checks: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Transition:
    """A change that alerts: to ``failure``, or back to ``success`` after an alerted failure."""

    outcome: Outcome
    previous: str | None


def record(
    engine: Engine, project: str, profile: str, version: int, entity: Entity, outcomes: list[Outcome], t: int
) -> list[Transition]:
    """Store one evaluation of ``profile`` over ``entity``; returns the transitions that alert."""
    with write_transaction(engine) as conn:
        return record_in(conn, project, profile, version, entity, outcomes, t)


def record_in(
    conn: Connection, project: str, profile: str, version: int, entity: Entity, outcomes: list[Outcome], t: int
) -> list[Transition]:
    """:func:`record` inside the caller's write transaction (the scheduler writes entities in batches)."""
    transitions: list[Transition] = []
    key = and_(
        profile_state.c.project == project, profile_state.c.profile == profile, profile_state.c.entity_id == entity.id
    )
    current = {(r.target, r.rule): r for r in conn.execute(select(profile_state).where(key))}
    seen = set()
    for o in outcomes:
        seen.add((o.target, o.rule))
        old = current.get((o.target, o.rule))
        changed = old is None or (old.status, old.reason, old.digest, old.profile_version) != (
            o.status,
            o.reason,
            o.digest,
            version,
        )
        alerted = old.alerted if old is not None else None
        if o.status == "failure" and alerted != "failure":
            transitions.append(Transition(o, old.status if old is not None else None))
            alerted = "failure"
        elif o.status == "success" and alerted == "failure":
            transitions.append(Transition(o, old.status if old is not None else None))
            alerted = "success"
        values = dict(
            digest=o.digest,
            status=o.status,
            reason=o.reason,
            message=o.message[:4000],
            evaluated=t,
            alerted=alerted,
            profile_version=version,
        )
        if old is None:
            conn.execute(
                profile_state.insert().values(
                    project=project,
                    profile=profile,
                    entity_id=entity.id,
                    target=o.target,
                    rule=o.rule,
                    since=t,
                    **values,
                )
            )
        else:
            if changed and old.status != o.status:
                values["since"] = t
            conn.execute(
                update(profile_state)
                .where(key, profile_state.c.target == o.target, profile_state.c.rule == o.rule)
                .values(**values)
            )
        if changed:
            conn.execute(
                profile_history.insert().values(
                    project=project,
                    profile=profile,
                    profile_version=version,
                    entity_id=entity.id,
                    entity=entity.name,
                    target=o.target,
                    digest=o.digest,
                    rule=o.rule,
                    status=o.status,
                    reason=o.reason,
                    message=o.message[:4000],
                    checks=json.dumps(o.checks),
                    created=t,
                )
            )
    for target, rule in set(current) - seen:  # a tag that no longer matches, a rule removed from the profile
        conn.execute(delete(profile_state).where(key, profile_state.c.target == target, profile_state.c.rule == rule))
    return transitions


# ---- queries (API and dashboard) -----------------------------------------------------------------


def _state_json(r: Any) -> dict[str, Any]:
    return {
        "profile": r.profile,
        "entityId": int(r.entity_id),
        "target": r.target,
        "digest": r.digest,
        "rule": r.rule,
        "profileVersion": int(r.profile_version),
        "status": r.status,
        "reason": r.reason,
        "message": r.message,
        "since": int(r.since),
        "evaluated": int(r.evaluated),
    }


def latest(
    engine: Engine, project: str, profile: str | None = None, entity_id: int | None = None
) -> list[dict[str, Any]]:
    """The latest status of every (profile, entity, target, rule) of a project, optionally narrowed."""
    q = select(profile_state).where(profile_state.c.project == project)
    if profile is not None:
        q = q.where(profile_state.c.profile == profile)
    if entity_id is not None:
        q = q.where(profile_state.c.entity_id == entity_id)
    q = q.order_by(profile_state.c.profile, profile_state.c.entity_id, profile_state.c.target, profile_state.c.rule)
    with engine.connect() as conn:
        return [_state_json(r) for r in conn.execute(q)]


def status_counts(
    engine: Engine, project: str, by: str, profile: str | None = None, entity_ids: list[int] | None = None
) -> dict[Any, dict[str, int]]:
    """Latest-row counts per status, grouped by ``profile`` or ``entity_id``, counted by the database."""
    c = profile_state.c
    key = c.profile if by == "profile" else c.entity_id
    q = select(key, c.status, func.count()).where(c.project == project)
    if profile is not None:
        q = q.where(c.profile == profile)
    if entity_ids is not None:
        q = q.where(c.entity_id.in_(entity_ids))
    out: dict[Any, dict[str, int]] = {}
    with engine.connect() as conn:
        for k, status, n in conn.execute(q.group_by(key, c.status)):
            out.setdefault(int(k) if by != "profile" else k, {})[status] = int(n)
    return out


def summary_of(counts: dict[str, int]) -> dict[str, Any]:
    """A summary (overall status and counts) from counts per status."""
    overall = next((s for s in ("failure", "error", "success", "skipped") if counts.get(s)), "pending")
    return {"status": overall, "counts": dict(counts)}


def latest_of_entities(
    engine: Engine, project: str, entity_ids: list[int], profile: str | None = None
) -> list[dict[str, Any]]:
    """The latest rows for the given entities only (a page of them), optionally of one profile."""
    if not entity_ids:
        return []
    c = profile_state.c
    q = select(profile_state).where(c.project == project, c.entity_id.in_(entity_ids))
    if profile is not None:
        q = q.where(c.profile == profile)
    with engine.connect() as conn:
        return [_state_json(r) for r in conn.execute(q.order_by(c.profile, c.entity_id, c.target, c.rule))]


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A profile's overall status from its latest rows: failure > error > success; counts per status."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    overall = next((s for s in ("failure", "error", "success", "skipped") if counts.get(s)), "pending")
    return {"status": overall, "counts": counts}


def history(
    engine: Engine,
    project: str,
    *,
    profile: str | None = None,
    entity_id: int | None = None,
    entity: str | None = None,
    status: str | None = None,
    since: int | None = None,
    before: int | None = None,
    limit: int = 100,
) -> tuple[list[dict[str, Any]], int | None]:
    """History rows newest first (``before``: an id cursor) and the cursor of the next page, if any."""
    h = profile_history.c
    q = select(profile_history).where(h.project == project)
    for column, value in ((h.profile, profile), (h.entity_id, entity_id), (h.entity, entity), (h.status, status)):
        if value is not None:
            q = q.where(column == value)
    if since is not None:
        q = q.where(h.created >= since)
    if before is not None:
        q = q.where(h.id < before)
    limit = max(1, min(limit, MAX_PAGE))
    with engine.connect() as conn:
        rows = list(conn.execute(q.order_by(h.id.desc()).limit(limit + 1)))
    out = [
        {
            "id": int(r.id),
            "profile": r.profile,
            "profileVersion": int(r.profile_version),
            "entityId": int(r.entity_id),
            "entity": r.entity,
            "target": r.target,
            "digest": r.digest,
            "rule": r.rule,
            "status": r.status,
            "reason": r.reason,
            "message": r.message,
            "checks": json.loads(r.checks),
            "time": int(r.created),
        }
        for r in rows[:limit]
    ]
    return out, (out[-1]["id"] if len(rows) > limit else None)
