"""`assay checklist`: how far a project is from the artifact-security checklist."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from assay.cli import output
from assay.cli.app import app


@app.command("checklist")
def checklist(
    repo: Annotated[Optional[str], typer.Option("--repo", help="repository directory")] = None,
    registry: Annotated[Optional[str], typer.Option("--registry", help="registry reference")] = None,
    fmt: Annotated[str, typer.Option("-o", "--output", help="table|json|sarif")] = "table",
) -> None:
    """One row per checklist item with pass/fail/unknown, evidence and fix."""
    from assay.service.checklist import check_registry, check_repo, to_sarif

    rows = check_repo(repo) if repo else []
    if registry:
        rows.append(check_registry(registry))
    if fmt == "sarif":
        output.emit_json(to_sarif(rows))
    elif fmt == "json":
        output.emit_json({"rows": rows})
    else:
        for r in rows:
            output.say(f"{r['status']:8} {r['item']:22} {'; '.join(r['evidence'])[:200]}")
    raise typer.Exit(1 if any(r["status"] == "fail" for r in rows) else 0)
