"""Profiles on an assay server: ``assay entity``, ``assay profile``, ``assay history`` and ``assay alert``."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from assay.cli import output
from assay.cli.app import app as root
from assay.errors import InputError

entity_app = typer.Typer(help="What a project watches: image repositories, artifacts, digests.", no_args_is_help=True)
profile_app = typer.Typer(
    help="Profiles: rules evaluated continuously over a project's entities.", no_args_is_help=True
)
history_app = typer.Typer(help="The history of profile evaluations.", no_args_is_help=True)
alert_app = typer.Typer(help="Alert sinks and the alerts sent to them.", no_args_is_help=True)
sink_app = typer.Typer(help="Webhook and Slack-compatible sinks.", no_args_is_help=True)
root.add_typer(entity_app, name="entity")
root.add_typer(profile_app, name="profile")
root.add_typer(history_app, name="history")
root.add_typer(alert_app, name="alert")
alert_app.add_typer(sink_app, name="sink")

ServerOpt = Annotated[Optional[str], typer.Option("--server", help="assay server URL (default: ASSAY_SERVER, login)")]
ProjectOpt = Annotated[str, typer.Option("--project", "-p", envvar="ASSAY_PROJECT", help="project name")]
TokenOpt = Annotated[Optional[str], typer.Option("--token", help="API token or session (default: ASSAY_TOKEN)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON output")]


class EntityKind(StrEnum):
    image = "image"
    blob = "blob"
    evidence_subject = "evidence-subject"


def _client(server: str | None, project: str, token: str | None) -> Any:
    from assay.clients.profiles import ProfilesClient

    return ProfilesClient.create(server, project, token)


def _time(ms: int | None) -> str:
    from datetime import UTC, datetime

    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- entity ---------------------------------------------------------------------------------


@entity_app.command("add")
def entity_add(
    kind: Annotated[EntityKind, typer.Argument(help="image | blob | evidence-subject")],
    name: Annotated[str, typer.Argument(help="REGISTRY/REPO, an artifact name, or sha256:HEX")],
    project: ProjectOpt,
    tags: Annotated[Optional[str], typer.Option("--tags", help="comma-separated tag globs, e.g. latest,v*")] = None,
    tag_regexp: Annotated[Optional[str], typer.Option("--tag-regexp", help="tags matching this regexp")] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="plain-HTTP loopback registry")] = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Watch an image repository (its matching tags, rediscovered on every evaluation), an artifact or a digest."""
    if tags and tag_regexp:
        raise InputError("usage", "--tags and --tag-regexp are exclusive")
    doc: dict[str, Any] = {"kind": kind.value, "name": name}
    if tags:
        doc["tags"] = [t.strip() for t in tags.split(",") if t.strip()]
    if tag_regexp:
        doc["tagRegExp"] = tag_regexp
    if insecure:
        doc["insecure"] = True
    made = _client(server, project, token).add_entity(doc)
    output.say(f"entity {made['id']}: {made['kind']} {made['name']}")


@entity_app.command("list")
def entity_list(
    project: ProjectOpt, server: ServerOpt = None, token: TokenOpt = None, json_out: JsonOpt = False
) -> None:
    """The project's entities."""
    found = _client(server, project, token).entities()
    if json_out:
        output.emit_json(found)
        return
    for e in found:
        scope = ",".join(e.get("tags") or []) or e.get("tagRegExp") or ("all tags" if e["kind"] == "image" else "")
        output.say(f"{e['id']}\t{e['kind']}\t{e['name']}\t{scope}".rstrip())


@entity_app.command("delete")
def entity_delete(
    entity_id: Annotated[int, typer.Argument(help="the entity's id (entity list)")],
    project: ProjectOpt,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Stop watching an entity (its history is kept)."""
    _client(server, project, token).delete_entity(entity_id)
    output.say(f"entity {entity_id} deleted")


# ---- profile --------------------------------------------------------------------------------


@profile_app.command("apply")
def profile_apply(
    file: Annotated[str, typer.Option("--file", "-f", help="profile document (YAML or JSON); - for stdin")],
    project: ProjectOpt,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create or update a profile (a new version); it is evaluated at once and then on its interval."""
    from assay.service.io import read_file

    data = sys.stdin.buffer.read() if file == "-" else read_file(file, "profile")
    done = _client(server, project, token).apply(data)
    state = "applied" if done["changed"] else "unchanged"
    output.say(f"profile {done['name']} version {done['version']} {state}")


@profile_app.command("list")
def profile_list(
    project: ProjectOpt, server: ServerOpt = None, token: TokenOpt = None, json_out: JsonOpt = False
) -> None:
    """The project's profiles with their overall status."""
    found = _client(server, project, token).profiles()
    if json_out:
        output.emit_json(found)
        return
    for p in found:
        output.say(f"{p['name']}\tv{p['version']}\t{p['status']}\talert={p['alert']}\tevery {p['interval']}s")


@profile_app.command("get")
def profile_get(
    name: Annotated[str, typer.Argument(help="profile name")],
    project: ProjectOpt,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Print a profile's current document."""
    sys.stdout.write(_client(server, project, token).profile(name)["document"])


@profile_app.command("delete")
def profile_delete(
    name: Annotated[str, typer.Argument(help="profile name")],
    project: ProjectOpt,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Delete a profile (its history is kept)."""
    _client(server, project, token).delete_profile(name)
    output.say(f"profile {name} deleted")


@profile_app.command("status")
def profile_status(
    project: ProjectOpt,
    name: Annotated[str, typer.Option("--name", "-n", help="profile name")],
    detailed: Annotated[bool, typer.Option("--detailed", help="every rule of every target")] = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A profile's latest result per entity (and, with --detailed, per target and rule)."""
    doc = _client(server, project, token).status(name, detailed)
    if json_out:
        output.emit_json(doc)
        return
    output.say(f"profile {doc['name']} v{doc['version']}: {doc['status']}")
    for e in doc["entities"]:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(e["counts"].items()))
        output.say(f"  entity {e['id']} {e['name']}: {e['status']} ({counts})")
        for r in e.get("rows", []):
            why = f" [{r['reason']}]" if r["reason"] else ""
            output.say(f"    {r['target']} {r['rule']}: {r['status']}{why} {r['digest'] or ''}".rstrip())
            if r["message"] and r["status"] != "success":
                output.say(f"      {r['message']}")


@profile_app.command("init")
def profile_init(
    template: Annotated[str, typer.Argument(help="template name: artifact-security")],
    repository: Annotated[str, typer.Option("--repository", help="https://github.com/OWNER/REPO")],
    branch: Annotated[str, typer.Option("--branch")] = "main",
    workflow: Annotated[str, typer.Option("--workflow")] = ".github/workflows/release.yml",
    issuer: Annotated[str, typer.Option("--issuer", help="OIDC issuer of the signing certificates")] = (
        "https://token.actions.githubusercontent.com"
    ),
    runner_environment: Annotated[str, typer.Option("--runner-environment")] = "github-hosted",
    interval: Annotated[str, typer.Option("--interval", help="re-evaluation interval")] = "5m",
    alert: Annotated[str, typer.Option("--alert", help="on | off | dry_run")] = "on",
    name: Annotated[str, typer.Option("--name", help="profile name")] = "artifact-security",
    out: Annotated[Optional[str], typer.Option("--out")] = None,
) -> None:
    """Write a ready-made profile (Minder's artifact_signature rule set, from the policy template)."""
    from assay.profiles import templates
    from assay.profiles.parse import parse_profile
    from assay.service.io import write_atomic

    if template != "artifact-security":
        raise InputError("usage", f"unknown template {template!r}; available: artifact-security")
    text = templates.artifact_security(repository, branch, workflow, issuer, runner_environment, interval, alert, name)
    parse_profile(text.encode(), 0)  # the template's output must be a profile this assay accepts
    if out:
        write_atomic(out, text.encode())
    else:
        sys.stdout.write(text)


# ---- history --------------------------------------------------------------------------------


class Status(StrEnum):
    success = "success"
    failure = "failure"
    error = "error"
    skipped = "skipped"


@history_app.command("list")
def history_list(
    project: ProjectOpt,
    entity: Annotated[Optional[str], typer.Option("--entity", help="entity id or name")] = None,
    status: Annotated[Optional[Status], typer.Option("--status")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="RFC 3339 time or seconds since the epoch")] = None,
    profile: Annotated[Optional[str], typer.Option("--profile")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Evaluation results as they changed, newest first."""
    rows = _client(server, project, token).history(
        entity=entity, status=status.value if status else None, since=since, profile=profile, limit=limit
    )
    for r in rows:
        if json_out:
            sys.stdout.write(json.dumps(r) + "\n")
            continue
        why = f" [{r['reason']}]" if r["reason"] else ""
        output.say(f"{_time(r['time'])} {r['profile']} {r['target']} {r['rule']}: {r['status']}{why}")


# ---- alerts ---------------------------------------------------------------------------------


@sink_app.command("add")
def sink_add(
    name: Annotated[str, typer.Argument(help="sink name")],
    project: ProjectOpt,
    webhook: Annotated[Optional[str], typer.Option("--webhook", help="generic JSON webhook URL")] = None,
    slack: Annotated[Optional[str], typer.Option("--slack", help="Slack-compatible incoming-webhook URL")] = None,
    secret_file: Annotated[
        Optional[str], typer.Option("--secret-file", help="file holding the webhook's HMAC-SHA256 key")
    ] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Add (or replace) an alert sink."""
    if bool(webhook) == bool(slack):
        raise InputError("usage", "give exactly one of --webhook URL or --slack URL")
    doc: dict[str, Any] = {"name": name, "kind": "webhook" if webhook else "slack", "url": webhook or slack}
    if secret_file:
        try:
            doc["secret"] = Path(secret_file).read_text().strip()
        except OSError as exc:
            raise InputError("file-not-found", f"{secret_file}: {exc.strerror}") from None
    made = _client(server, project, token).add_sink(doc)
    output.say(f"sink {made['name']}: {made['kind']} {made['url']}{' (signed)' if made['signed'] else ''}")


@sink_app.command("list")
def sink_list(project: ProjectOpt, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """The project's sinks."""
    for s in _client(server, project, token).sinks():
        output.say(f"{s['name']}\t{s['kind']}\t{s['url']}{chr(9) + 'signed' if s['signed'] else ''}")


@sink_app.command("delete")
def sink_delete(
    name: Annotated[str, typer.Argument(help="sink name")], project: ProjectOpt, server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:  # fmt: skip
    """Remove a sink (its undelivered alerts with it)."""
    _client(server, project, token).delete_sink(name)
    output.say(f"sink {name} deleted")


@alert_app.command("list")
def alert_list(
    project: ProjectOpt,
    state: Annotated[Optional[str], typer.Option("--state", help="pending | sent | dead | dry-run")] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Alerts queued for the project's sinks, newest first."""
    found = _client(server, project, token).alerts(state)
    if json_out:
        output.emit_json(found)
        return
    for a in found:
        output.say(
            f"{_time(a['created'])} {a['sink']} {a['state']} {a['profile']}/{a['rule']} {a['target']}: {a['status']}"
            + (f" ({a['attempts']} attempts: {a['lastError']})" if a["lastError"] else "")
        )
