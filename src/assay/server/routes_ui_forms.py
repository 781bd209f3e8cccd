"""The dashboard's write forms: Profiles → New profile → Artifact Security → Apply, and registering an entity.

Each form is shown to anyone who may read the project's profiles (``profile.read``), and the form itself only
when the viewer's role may write them (``profile.write``: policy_writer and up). A POST is authorised for
``profile.write`` by ``ui_session.page``, carries the CSRF token (``ui_session.form``), is audited like the API's
writes and goes through the same service path as the API and the CLI: ``profiles.templates.artifact_security``
(``assay profile init artifact-security``) and ``routes_profiles.apply_document`` (``assay profile apply``);
``routes_profiles.register_entity`` (``assay entity add``). A document is fully checked before anything is written;
a refusal re-shows the form with what was typed, the reason code and the message (HTTP 4xx).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from assay.access.permissions import allows
from assay.errors import AssayError, EnvironmentFailure
from assay.profiles import templates
from assay.profiles.model import ALERT_MODES
from assay.server.routes_profiles import apply_document, register_entity
from assay.server.ui_session import PageError, Viewer, form, html, page

router = APIRouter(include_in_schema=False)

TEMPLATES = [
    {
        "slug": "artifact-security",
        "title": "Artifact Security",
        "about": "Images must be signed, keyless, by the release workflow of a repository on a branch, on the "
        "expected runner and from the expected issuer (Minder's artifact_signature rule set).",
    }
]
RUNNERS = ("github-hosted", "self-hosted")
ENTITY_KINDS = (("image", "Container image repository"), ("blob", "Artifact name"),
                ("evidence-subject", "Evidence subject digest"))  # fmt: skip


def _can_write(who: Viewer) -> bool:
    return who.server_admin or allows(who.role, "profile.write")


def _crumbs(project: str, *more: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [("Projects", "/ui/projects"), (project, f"/ui/projects/{project}"), *more]


def _refused(exc: AssayError) -> PageError:
    status = 503 if isinstance(exc, EnvironmentFailure) else int(getattr(exc, "status", 0) or 400)
    return PageError(status if 400 <= status < 600 else 400, exc.reason, exc.message)


def _form_page(request: Request, template: str, who: Viewer, project: str, error: PageError | None,
               **context: Any) -> Response:  # fmt: skip
    response = html(request, template, status=error.status if error else 200, viewer=who, section="projects",
                    project=project, can_write=_can_write(who), error=error, **context)  # fmt: skip
    if error is not None:
        response.headers["X-Assay-Reason"] = error.reason  # the audit record names the reason too
    return response


# ---- Profiles → New profile -------------------------------------------------------------------


@router.get("/ui/projects/{project}/profiles/new")
def new_profile_page(request: Request, project: str, who: Annotated[Viewer, Depends(page("profile.read"))]) -> Response:
    return _form_page(
        request, "profile_new.html", who, project, None, title="New profile", templates=TEMPLATES,
        crumbs=_crumbs(project, ("Profiles", f"/ui/projects/{project}/profiles"), ("New profile", None)),
    )  # fmt: skip


def _security_defaults(request: Request) -> dict[str, str]:
    return {
        "name": "artifact-security",
        "repository": "",
        "branch": "main",
        "workflow": ".github/workflows/release.yml",
        "issuer": templates.GITHUB_ISSUER,
        "runner_environment": "github-hosted",
        "interval": "5m",
        "alert": "on",
    }


def _security_page(request: Request, who: Viewer, project: str, values: dict[str, str],
                   error: PageError | None = None) -> Response:  # fmt: skip
    settings = request.app.state.settings
    issuers = [(templates.GITHUB_ISSUER, "GitHub Actions")]
    if settings.dev:
        issuers.append((settings.dev_github_issuer_url, "this server's dev issuer (GitHub-shaped)"))
    return _form_page(
        request, "profile_apply.html", who, project, error, title="Apply the Artifact Security profile",
        crumbs=_crumbs(project, ("Profiles", f"/ui/projects/{project}/profiles"),
                       ("New profile", f"/ui/projects/{project}/profiles/new"), ("Artifact Security", None)),
        values=values, issuers=issuers, runners=RUNNERS, alerts=ALERT_MODES,
        min_interval=f"{settings.profile_min_interval:g}s",
    )  # fmt: skip


@router.get("/ui/projects/{project}/profiles/new/artifact-security")
def artifact_security_page(
    request: Request, project: str, who: Annotated[Viewer, Depends(page("profile.read"))]
) -> Response:
    return _security_page(request, who, project, _security_defaults(request))


@router.post("/ui/projects/{project}/profiles/new/artifact-security")
async def artifact_security_apply(
    request: Request, project: str, who: Annotated[Viewer, Depends(page("profile.write"))]
) -> Response:
    fields = await form(request)
    values = {k: fields.get(k, v).strip() for k, v in _security_defaults(request).items()}
    try:
        document = templates.artifact_security(
            values["repository"], values["branch"], values["workflow"], values["issuer"],
            values["runner_environment"], values["interval"], values["alert"], values["name"],
        )  # fmt: skip
        applied = await apply_document(request, project, document.encode(), who.principal.actor)
    except AssayError as exc:
        return _security_page(request, who, project, values, _refused(exc))
    request.state.audit_target = f"profile {applied['name']} version {applied['version']} (dashboard)"
    target = f"/ui/projects/{project}/profiles?applied={applied['name']}"
    return RedirectResponse(target, status_code=303)


# ---- Entities → Register ----------------------------------------------------------------------


def _entity_page(request: Request, who: Viewer, project: str, values: dict[str, str],
                 error: PageError | None = None) -> Response:  # fmt: skip
    return _form_page(
        request, "entity_new.html", who, project, error, title="Register an entity",
        crumbs=_crumbs(project, ("Entities", f"/ui/projects/{project}/entities"), ("Register", None)),
        values=values, kinds=ENTITY_KINDS,
    )  # fmt: skip


ENTITY_DEFAULTS = {"kind": "image", "name": "", "tags": "latest", "insecure": ""}


@router.get("/ui/projects/{project}/entities/new")
def new_entity_page(request: Request, project: str, who: Annotated[Viewer, Depends(page("profile.read"))]) -> Response:
    return _entity_page(request, who, project, dict(ENTITY_DEFAULTS))


@router.post("/ui/projects/{project}/entities/new")
async def new_entity_submit(
    request: Request, project: str, who: Annotated[Viewer, Depends(page("profile.write"))]
) -> Response:
    fields = await form(request)
    values = {k: fields.get(k, "").strip() for k in ENTITY_DEFAULTS}
    doc: dict[str, Any] = {"kind": values["kind"], "name": values["name"]}
    tags = [t.strip() for t in values["tags"].split(",") if t.strip()]
    if tags and values["kind"] == "image":
        doc["tags"] = tags
    if values["insecure"]:
        doc["insecure"] = True
    try:
        added = await register_entity(request, project, doc, who.principal.actor)
    except AssayError as exc:
        return _entity_page(request, who, project, values, _refused(exc))
    request.state.audit_target = f"entity {added.id} {added.kind} {added.name} (dashboard)"
    return RedirectResponse(f"/ui/projects/{project}/entities/{added.id}", status_code=303)
