"""Profiles routes (per project): entities, profiles, their status and history, alert sinks and the outbox;
and the wiring of the evaluation scheduler into the app."""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from assay.errors import AssayError, InputError
from assay.formats import safejson
from assay.profiles import alerts, history, records
from assay.profiles.model import STATUSES, Entity
from assay.profiles.parse import check_name, parse_profile
from assay.server import params
from assay.server.auth import Principal, require
from assay.server.names import check_project

router = APIRouter()
BASE = "/api/v1/projects/{project}"
TAGS: list[str | Enum] = ["profiles"]


def _engine(request: Request) -> Any:
    return request.app.state.evidence.engine


def _wake(request: Request) -> None:
    scheduler = getattr(request.app.state, "profile_scheduler", None)
    if scheduler is not None:
        scheduler.wake()


def _check_repository(entity: Entity) -> None:
    """An image entity's repository must exist now: ``entity-registry-unreachable``, ``entity-not-found``."""
    from assay.oci.target import RegistryAuth, open_target

    try:
        t = open_target(entity.name + ":latest", RegistryAuth(insecure=entity.insecure))
        t.store.list_tags(t.repository)
    except AssayError as exc:
        if exc.reason in ("repository-not-found", "image-not-found"):
            raise InputError("entity-not-found", f"{entity.name}: {exc.message}") from None
        if exc.reason == "insecure-not-loopback":
            raise
        raise InputError("entity-registry-unreachable", f"{entity.name}: {exc.message}") from None


@router.get(BASE + "/entities", tags=TAGS, summary="The entities a project watches")
def list_entities(request: Request, project: str, principal: Principal = Depends(require("profile.read"))) -> Any:
    check_project(project)
    return {"entities": [e.to_json() for e in records.list_entities(_engine(request), project)]}


async def register_entity(request: Request, project: str, doc: dict[str, Any], actor: str) -> Entity:
    """Check and store an entity (the API's and the dashboard's one path); the scheduler is woken."""
    unknown = set(doc) - {"kind", "name", "tags", "tagRegExp", "insecure"}
    if unknown:
        raise InputError("entity-unknown-key", f"unknown fields {sorted(unknown)}")
    kind, name = doc.get("kind"), doc.get("name")
    tags, tag_re, insecure = doc.get("tags") or [], doc.get("tagRegExp"), doc.get("insecure", False)
    if not isinstance(kind, str) or not isinstance(name, str) or not isinstance(tags, list):
        raise InputError("entity-bad-name", "kind and name are strings, tags a list")
    if not isinstance(insecure, bool) or (tag_re is not None and not isinstance(tag_re, str)):
        raise InputError("entity-bad-tags", "insecure is a boolean and tagRegExp a string")
    records.check_entity(kind, name, tags, tag_re)
    entity = Entity(0, project, kind, name, tuple(tags), tag_re, insecure, records.now_ms(), actor)
    if kind == "image":
        await asyncio.to_thread(_check_repository, entity)
    added = await asyncio.to_thread(records.add_entity, _engine(request), entity)
    _wake(request)
    return added


@router.post(BASE + "/entities", tags=TAGS, summary="Watch an image repository, an artifact name or a digest")
async def add_entity(request: Request, project: str, principal: Principal = Depends(require("profile.write"))) -> Any:
    check_project(project)
    doc = safejson.load_object(await request.body(), what="entity")
    added = await register_entity(request, project, doc, principal.actor)
    return JSONResponse(added.to_json(), status_code=201)


@router.delete(BASE + "/entities/{entity_id}", tags=TAGS, summary="Stop watching an entity")
def delete_entity(
    request: Request, project: str, entity_id: str, principal: Principal = Depends(require("profile.write"))
) -> Any:
    check_project(project)
    records.delete_entity(_engine(request), project, params.number(entity_id, "entity id", 0))
    return {"deleted": entity_id}


def _profile_json(row: Any, with_document: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": row.name, "version": int(row.version), "alert": row.alert, "interval": int(row.interval),
        "nextRun": int(row.next_run), "updated": int(row.updated), "updatedBy": row.updated_by,
    }  # fmt: skip
    if with_document:
        out["document"] = row.document
    return out


@router.get(BASE + "/profiles", tags=TAGS, summary="A project's profiles and each one's overall status")
def list_profiles(request: Request, project: str, principal: Principal = Depends(require("profile.read"))) -> Any:
    check_project(project)
    engine = _engine(request)
    out = []
    for row in records.profile_rows(engine, project):
        item = _profile_json(row)
        item.update(history.summary(history.latest(engine, project, row.name)))
        out.append(item)
    return {"profiles": out}


@router.post(BASE + "/profiles", tags=TAGS, summary="Apply a profile document (YAML or JSON); a new version")
async def apply_profile(
    request: Request, project: str, principal: Principal = Depends(require("profile.write"))
) -> Any:
    check_project(project)
    applied = await apply_document(request, project, await request.body(), principal.actor)
    return JSONResponse(applied, status_code=201 if applied["changed"] else 200)


async def apply_document(request: Request, project: str, document: bytes, actor: str) -> dict[str, Any]:
    """Check a profile document fully, then store it as the next version (the API's and the dashboard's one path)."""
    profile = parse_profile(document, request.app.state.settings.profile_min_interval)
    applied = await asyncio.to_thread(records.apply_profile, _engine(request), project, profile, actor)
    _wake(request)
    return applied


@router.get(BASE + "/profiles/{name}", tags=TAGS, summary="A profile's current document and version")
def get_profile(
    request: Request, project: str, name: str, principal: Principal = Depends(require("profile.read"))
) -> Any:
    check_project(project)
    return _profile_json(records.get_profile(_engine(request), project, check_name(name)), with_document=True)


@router.delete(BASE + "/profiles/{name}", tags=TAGS, summary="Delete a profile (its history is kept)")
def delete_profile(
    request: Request, project: str, name: str, principal: Principal = Depends(require("profile.write"))
) -> Any:
    check_project(project)
    records.delete_profile(_engine(request), project, check_name(name))
    return {"deleted": name}


@router.get(BASE + "/profiles/{name}/status", tags=TAGS, summary="A profile's latest result per entity and rule")
def profile_status(
    request: Request,
    project: str,
    name: str,
    detailed: bool = False,
    principal: Principal = Depends(require("profile.read")),
) -> Any:
    check_project(project)
    engine = _engine(request)
    row = records.get_profile(engine, project, check_name(name))
    rows = history.latest(engine, project, name)
    out = _profile_json(row)
    out.update(history.summary(rows))
    entities: dict[int, dict[str, Any]] = {}
    names = {e.id: e.name for e in records.list_entities(engine, project)}
    for r in rows:
        e = entities.setdefault(r["entityId"], {"id": r["entityId"], "name": names.get(r["entityId"]), "rows": []})
        e["rows"].append(r)
    for e in entities.values():
        e.update(history.summary(e["rows"]))
        if not detailed:
            del e["rows"]
    out["entities"] = list(entities.values())
    return out


def _since(value: str | None) -> int | None:
    seconds = params.unix_time(value, "since")
    return None if seconds is None else seconds * 1000


@router.get(BASE + "/history", tags=TAGS, summary="Evaluation history, newest first")
def list_history(
    request: Request,
    project: str,
    profile: str | None = None,
    entity: str | None = Query(None, description="entity id or name"),
    status: str | None = None,
    since: str | None = Query(None, description="RFC 3339 or seconds since the epoch"),
    before: str | None = Query(None, description="the cursor a previous page returned"),
    limit: str | None = Query(None, description="1 to 1000, default 100"),
    principal: Principal = Depends(require("profile.read")),
) -> Any:
    check_project(project)
    cursor = params.optional(before, "before")
    count = params.number(limit, "limit", 100, minimum=1, maximum=1000)
    if status is not None and status not in STATUSES:
        raise InputError("bad-status", f"status {status!r}: use one of {', '.join(STATUSES)}")
    by_id = params.optional(entity, "entity") if entity is not None and entity.isascii() and entity.isdigit() else None
    rows, nxt = history.history(
        _engine(request), project, profile=profile, entity_id=by_id, entity=None if by_id is not None else entity,
        status=status, since=_since(since), before=cursor, limit=count,
    )  # fmt: skip
    return {"items": rows, "next": nxt}


@router.get(BASE + "/sinks", tags=TAGS, summary="Alert sinks (secrets never shown)")
def list_sinks(request: Request, project: str, principal: Principal = Depends(require("profile.read"))) -> Any:
    check_project(project)
    return {"sinks": records.list_sinks(_engine(request), project)}


@router.post(BASE + "/sinks", tags=TAGS, summary="Add or replace an alert sink (webhook or slack)")
async def add_sink(request: Request, project: str, principal: Principal = Depends(require("profile.write"))) -> Any:
    check_project(project)
    doc = safejson.load_object(await request.body(), what="sink")
    unknown = set(doc) - {"name", "kind", "url", "secret"}
    if unknown:
        raise InputError("sink-unknown-key", f"unknown fields {sorted(unknown)}")
    name = check_name(doc.get("name"), "sink name")
    added = records.add_sink(
        _engine(request), project, name, str(doc.get("kind")), records.check_sink_url(doc.get("url")), doc.get("secret")
    )
    return JSONResponse(added, status_code=201)


@router.delete(BASE + "/sinks/{name}", tags=TAGS, summary="Remove an alert sink")
def delete_sink(
    request: Request, project: str, name: str, principal: Principal = Depends(require("profile.write"))
) -> Any:
    check_project(project)
    records.delete_sink(_engine(request), project, check_name(name, "sink name"))
    return {"deleted": name}


@router.get(BASE + "/alerts", tags=TAGS, summary="Queued, sent, dead-lettered and dry-run alerts, newest first")
def list_alerts(
    request: Request,
    project: str,
    state: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Depends(require("profile.read")),
) -> Any:
    check_project(project)
    if state is not None and state not in ("pending", "sent", "dead", "dry-run"):
        raise InputError("bad-state", "state: pending, sent, dead or dry-run")
    return {"alerts": alerts.outbox(_engine(request), project, state, limit)}


def mount(app: Any, settings: Any, engine: Any, trusted_root: Any) -> Any:
    """The scheduler on the app's database (started with the app); new evidence makes profiles due."""
    from assay.formats.trustroot import TrustedRoot, parse_trusted_root
    from assay.profiles.evaluate import Context
    from assay.profiles.scheduler import Options, Scheduler
    from assay.service.blob import public_good_root

    cache: list[TrustedRoot] = []

    def server_root() -> TrustedRoot:
        if not cache:
            cache.append(parse_trusted_root(trusted_root()))
        return cache[0]

    ctx = Context(engine, app.state.evidence, server_root, public_good_root)
    options = Options(settings.profile_tick, settings.profile_workers, settings.alert_attempts, settings.alert_backoff)
    scheduler = Scheduler(engine, ctx, options)
    app.state.profile_scheduler = scheduler

    def evidence_arrived(project: str, digests: list[str]) -> None:
        if records.mark_due_for_digests(engine, project, digests):
            scheduler.wake()

    app.state.profile_evidence_hook = evidence_arrived
    return scheduler
