"""The web dashboard at ``/ui``: server-rendered pages (``assay.web``), each guarded by ``ui_session.page``.

The pages read through the services already on the app (access, log, evidence) and, for profiles, entities
and history, through ``app.state.profiles_view`` (a ``web.profiles.ProfilesView``; empty until the profiles
package sets one). Refusals are HTML pages with the reason shown; an unauthenticated browser is sent to the
login page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from assay.access.permissions import allows
from assay.errors import AssayError, EnvironmentFailure
from assay.evidence.store import EvidenceStore
from assay.server.auth import _leaves
from assay.server.ui_session import (
    LoginRequired,
    PageError,
    Viewer,
    dashboard_key,
    error_page,
    finish_login,
    form,
    html,
    issuers,
    logout,
    page,
    safe_next,
    start_login,
)
from assay.web import views
from assay.web.profiles import NoProfiles, ProfilesView
from assay.web.render import STATIC_DIR

router = APIRouter(include_in_schema=False)
LATEST = 25


def _store(request: Request) -> EvidenceStore:
    return request.app.state.evidence  # type: ignore[no-any-return]


def _profiles(request: Request) -> ProfilesView:
    return getattr(request.app.state, "profiles_view", None) or NoProfiles()


def _crumbs(project: str, *more: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [("Projects", "/ui/projects"), (project, f"/ui/projects/{project}"), *more]


def _service(call: Any) -> Any:
    """Run a view model; bad input in it is a 400 page, an outage a 503 page (never a 500)."""
    try:
        return call()
    except EnvironmentFailure as exc:
        raise PageError(503, exc.reason, exc.message) from None
    except AssayError as exc:
        raise PageError(400, exc.reason, exc.message) from None


# ---- sign-in ------------------------------------------------------------------------------


@router.get("/ui")
def home() -> Response:
    return RedirectResponse("/ui/projects", status_code=303)


@router.get("/ui/login")
def login_page(request: Request, next: str = "") -> Response:
    return html(request, "login.html", title="Sign in", issuers=issuers(request), next=safe_next(next))


@router.post("/ui/login")
async def login_submit(request: Request) -> Response:
    return await start_login(request, await form(request))


@router.get("/ui/callback")
async def login_callback(request: Request, code: str = "", state: str = "") -> Response:
    if not code or not state:
        raise PageError(400, "login-state-invalid", "the identity provider's answer has no code or state")
    return await finish_login(request, code, state)


@router.post("/ui/logout")
async def logout_submit(request: Request) -> Response:
    await form(request)
    return logout(request)


# ---- projects -----------------------------------------------------------------------------


@router.get("/ui/projects")
def projects_page(request: Request, who: Annotated[Viewer, Depends(page("project.list"))]) -> Response:
    access = request.app.state.access
    p = who.principal
    rows = access.projects.visible(None if p.server_admin else (p.issuer, p.subject))
    shown = [{"name": r.name, "parent": access.projects.parent_name(r), "visibility": r.visibility,
              "created": r.created} for r in rows]  # fmt: skip
    return html(request, "projects.html", viewer=who, title="Projects", section="projects", projects=shown)


@router.get("/ui/projects/{project}")
def project_page(request: Request, project: str, who: Annotated[Viewer, Depends(page("project.read"))]) -> Response:
    access = request.app.state.access
    record = access.projects.get(project)
    store = _store(request)
    verified, _ = store.search(project, verified=True, limit=LATEST)
    unverified, _ = store.search(project, verified=False, limit=LATEST)
    can_audit = who.server_admin or allows(who.role, "audit.read")
    return html(
        request, "project.html", viewer=who, title=f"Project {project}", section="projects",
        crumbs=[*_crumbs(project)[:1], (project, None)], project=record, role=who.role,
        parent=access.projects.parent_name(record), evidence=verified + unverified, can_audit=can_audit,
    )  # fmt: skip


@router.get("/ui/projects/{project}/evidence/{digest}")
def evidence_page(
    request: Request, project: str, digest: str, who: Annotated[Viewer, Depends(page("evidence.read"))]
) -> Response:
    found = _service(lambda: views.evidence_item(_store(request), project, digest))
    if found is None:
        raise PageError(404, "evidence-not-found", f"project {project} has no evidence {digest}")
    item, text = found
    return html(
        request, "evidence.html", viewer=who, title="Evidence item", section="projects",
        crumbs=_crumbs(project, ("Evidence " + item["digest"][:19] + "…", None)), project=project, item=item, text=text,
    )  # fmt: skip


@router.get("/ui/projects/{project}/graph")
def graph_page(
    request: Request,
    project: str,
    who: Annotated[Viewer, Depends(page("evidence.read"))],
    subject: str = "",
    depth: Annotated[int, Query(ge=0, le=10)] = 2,
) -> Response:
    if not subject:
        raise PageError(400, "bad-digest", "give the subject digest: ?subject=sha256:<hex>")
    graph = _service(lambda: views.graph_view(_store(request), project, subject, depth))
    return html(
        request, "graph.html", viewer=who, title="Evidence graph", section="projects",
        crumbs=_crumbs(project, ("Evidence graph", None)), project=project, graph=graph, depth=depth,
    )  # fmt: skip


@router.get("/ui/projects/{project}/audit")
def project_audit_page(request: Request, project: str, who: Annotated[Viewer, Depends(page("audit.read"))]) -> Response:
    rows = request.app.state.access.audit.latest(project=project, limit=200)
    return html(
        request, "audit.html", viewer=who, title=f"Audit log of {project}", section="projects",
        crumbs=_crumbs(project, ("Audit log", None)), rows=rows, project=project,
    )  # fmt: skip


@router.get("/ui/audit")
def audit_page(request: Request, who: Annotated[Viewer, Depends(page("audit.read_all"))]) -> Response:
    rows = request.app.state.access.audit.latest(limit=200)
    return html(request, "audit.html", viewer=who, title="Audit log", section="audit", rows=rows, project=None)


# ---- profiles, entities, history (read through app.state.profiles_view) ---------------------


@router.get("/ui/projects/{project}/profiles")
def profiles_page(
    request: Request, project: str, who: Annotated[Viewer, Depends(page("profile.read"))], applied: str = ""
) -> Response:
    rows = _profiles(request).profiles(project)
    done = next((p for p in rows if p.name == applied), None)  # shown only for a profile that exists
    return html(
        request, "profiles.html", viewer=who, title=f"Profiles of {project}", section="projects",
        crumbs=_crumbs(project, ("Profiles", None)), project=project, profiles=rows, applied=done,
        can_write=who.server_admin or allows(who.role, "profile.write"),
    )  # fmt: skip


ENTITY_PAGE = 100  # entities per page: a project's page costs the same with 10 or 100,000 of them


@router.get("/ui/projects/{project}/entities")
def entities_page(
    request: Request, project: str, who: Annotated[Viewer, Depends(page("profile.read"))], after: str | None = None
) -> Response:
    from assay.server import params

    start = params.number(after, "after", 0)
    rows = _profiles(request).entities(project, start, ENTITY_PAGE + 1)
    more = len(rows) > ENTITY_PAGE
    rows = rows[:ENTITY_PAGE]
    return html(
        request, "entities.html", viewer=who, title=f"Entities of {project}", section="projects",
        crumbs=_crumbs(project, ("Entities", None)), project=project, entities=rows,
        can_write=who.server_admin or allows(who.role, "profile.write"),
        next_after=rows[-1].id if more and rows else None, paged=start > 0,
    )  # fmt: skip


@router.get("/ui/projects/{project}/entities/{entity}")
def entity_page(
    request: Request, project: str, entity: str, who: Annotated[Viewer, Depends(page("profile.read"))]
) -> Response:
    row = _profiles(request).entity(project, entity)
    if row is None:
        raise PageError(404, "unknown-entity", f"project {project} has no entity {entity!r}")
    return html(
        request, "entity.html", viewer=who, title=f"Entity {row.name}", section="projects",
        crumbs=_crumbs(project, ("Entities", f"/ui/projects/{project}/entities"), (row.name, None)),
        project=project, entity=row,
    )  # fmt: skip


@router.get("/ui/projects/{project}/history")
def history_page(
    request: Request,
    project: str,
    who: Annotated[Viewer, Depends(page("profile.read"))],
    entity: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    rows = _profiles(request).history(project, entity, limit)
    return html(
        request, "history.html", viewer=who, title=f"History of {project}", section="projects",
        crumbs=_crumbs(project, ("History", None)), project=project, rows=rows, entity=entity,
    )  # fmt: skip


# ---- the transparency log -------------------------------------------------------------------


@router.get("/ui/log")
def log_page(request: Request, who: Annotated[Viewer, Depends(page("dashboard.read"))]) -> Response:
    log = request.app.state.log
    chart = views.tree_chart(log.size_history())
    entries = views.entry_rows(log.recent(LATEST))
    return html(
        request, "log.html", viewer=who, title="Transparency log", section="log",
        head=log.head(), chart=chart, entries=entries,
    )  # fmt: skip


@router.get("/ui/log/entries/{index}")
def entry_page(request: Request, index: int, who: Annotated[Viewer, Depends(page("dashboard.read"))]) -> Response:
    if index < 0:
        raise PageError(404, "entry-not-found", f"the log has no entry {index}")
    entry = views.entry_view(request.app.state.log, request.app.state.trusted_root(), index)
    if entry is None:
        raise PageError(404, "entry-not-found", f"the log has no entry {index}")
    return html(
        request, "entry.html", viewer=who, title=f"Log entry {index}", section="log",
        crumbs=[("Transparency log", "/ui/log"), (f"Entry {index}", None)], entry=entry,
    )  # fmt: skip


# ---- wiring -----------------------------------------------------------------------------------


def page_actions(app: FastAPI) -> list[dict[str, Any]]:
    """Every dashboard page guarded by ``page``: method, path and action (for the matrix and its test)."""
    found = []
    for path, route in _leaves(list(app.routes)):
        dependant = getattr(route, "dependant", None)
        stack = list(dependant.dependencies) if dependant is not None else []
        while stack:
            dep = stack.pop()
            action = getattr(dep.call, "assay_page_action", None)
            if action:
                for method in sorted(getattr(route, "methods", None) or set()):
                    if method != "HEAD":
                        found.append({"method": method, "path": path, "action": action})
            stack.extend(dep.dependencies)
    return sorted(found, key=lambda r: (r["path"], r["method"]))


def _as_page(app: FastAPI, kind: type[Exception], api_handler: Any, http_reason: Callable[[int], str]) -> None:
    async def handler(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith("/ui/") and api_handler is not None:
            return await api_handler(request, exc)  # type: ignore[no-any-return]
        if isinstance(exc, StarletteHTTPException):
            reason = http_reason(exc.status_code)
            message = f"no page {request.url.path}" if exc.status_code == 404 else str(exc.detail)
            return error_page(request, PageError(exc.status_code, reason, message))
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_page(request, PageError(400, "bad-request", f"{where}: {first.get('msg', 'invalid request')}"))

    app.add_exception_handler(kind, handler)


def mount(app: FastAPI, http_reason: Callable[[int], str]) -> None:
    """Serve the dashboard on ``app``: pages, the stylesheet and the HTML refusal pages.

    Call after the API's error handlers are installed: under ``/ui/`` their refusals become pages (with the
    reason ``http_reason`` gives a status), elsewhere they answer as before."""
    app.state.dashboard_key = dashboard_key(app.state.settings.data_dir)
    from assay.server import routes_ui_forms

    app.include_router(routes_ui_forms.router)  # first: /entities/new is not the entity "new"
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return error_page(request, exc)

    # The framework's own refusals (no such page, a malformed parameter) are pages too under /ui.
    for kind in (StarletteHTTPException, RequestValidationError):
        _as_page(app, kind, app.exception_handlers.get(kind), http_reason)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import urlencode

        return RedirectResponse("/ui/login?" + urlencode({"next": safe_next(target)}), status_code=303)
