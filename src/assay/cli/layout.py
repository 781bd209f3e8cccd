"""``assay run``, ``record start|stop``, ``layout init|sign``, ``verify-layout`` and ``rebuild-check``."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from assay.cli import fastpath, output
from assay.cli.app import app as root_app
from assay.cli.options import (
    KeyOpt,
    OutputFormat,
    OutputOpt,
    PasswordFileOpt,
    ServerOpt,
    TokenOpt,
    TrustedRootOpt,
)
from assay.errors import AssayError, InputError

record_app = typer.Typer(help="Record a step that is not one command: start, do the work, stop.", no_args_is_help=True)
layout_app = typer.Typer(help="Write and sign in-toto layouts.", no_args_is_help=True)

StepOpt = Annotated[str, typer.Option("--step", "-n", help="step name (as in the layout)")]
MaterialsOpt = Annotated[Optional[list[str]], typer.Option("--materials", "-m", help="material path (repeatable)")]
ProductsOpt = Annotated[Optional[list[str]], typer.Option("--products", "-p", help="product path (repeatable)")]
ExcludeOpt = Annotated[Optional[list[str]], typer.Option("--exclude", help="gitignore-style pattern to skip")]
BaseOpt = Annotated[Optional[str], typer.Option("--base-path", help="record paths relative to this directory")]
LstripOpt = Annotated[Optional[list[str]], typer.Option("--lstrip-paths", help="prefix to strip from recorded paths")]
LinksDirOpt = Annotated[str, typer.Option("--links-dir", help="where the signed link is written")]
LegacyOpt = Annotated[bool, typer.Option("--legacy", help="write the reference implementation's Metablock link")]
DsseOpt = Annotated[bool, typer.Option("--dsse", help="write in-toto's DSSE link (the legacy link as DSSE payload)")]


def _recording(materials: Any, products: Any, base: Any, exclude: Any, lstrip: Any) -> Any:
    return fastpath.recording(materials, products, base, exclude, lstrip)


def _creds(key: str | None, token: str | None, server: str | None, password_file: str | None) -> Any:
    return fastpath.credentials(key, token, server, password_file)


def run(
    command: Annotated[Optional[list[str]], typer.Argument(help="-- CMD ARGS…")] = None,
    step: StepOpt = "",
    materials: MaterialsOpt = None,
    products: ProductsOpt = None,
    exclude: ExcludeOpt = None,
    base_path: BaseOpt = None,
    lstrip_paths: LstripOpt = None,
    key: KeyOpt = None,
    identity_token: TokenOpt = None,
    server: ServerOpt = None,
    links_dir: LinksDirOpt = ".",
    legacy: LegacyOpt = False,
    dsse: DsseOpt = False,
    record_streams: Annotated[
        bool, typer.Option("--record-streams", help="keep stdout and stderr in the link")
    ] = False,
    password_file: PasswordFileOpt = None,
) -> None:
    """Run a step's command and write its signed link (exits with the command's exit code)."""
    code = fastpath.run_command(
        command, step, materials, products, exclude, base_path, lstrip_paths, key, identity_token, server,
        links_dir, legacy, dsse, record_streams, password_file,
    )  # fmt: skip
    raise typer.Exit(code)


@record_app.command("start")
def record_start(
    step: StepOpt,
    materials: MaterialsOpt = None,
    exclude: ExcludeOpt = None,
    base_path: BaseOpt = None,
    lstrip_paths: LstripOpt = None,
    links_dir: LinksDirOpt = ".",
) -> None:
    """Hash the materials now; sign the link later with ``record stop``."""
    from assay.service.layout import LinkOutput
    from assay.service.layout import record_start as start

    path = start(step, _recording(materials, [], base_path, exclude, lstrip_paths), LinkOutput(links_dir))
    output.warn(f"recording {step!r} (materials kept in {path})")


@record_app.command("stop")
def record_stop(
    step: StepOpt,
    products: ProductsOpt = None,
    exclude: ExcludeOpt = None,
    base_path: BaseOpt = None,
    lstrip_paths: LstripOpt = None,
    key: KeyOpt = None,
    identity_token: TokenOpt = None,
    server: ServerOpt = None,
    links_dir: LinksDirOpt = ".",
    legacy: LegacyOpt = False,
    dsse: DsseOpt = False,
    password_file: PasswordFileOpt = None,
) -> None:
    """Hash the products and write the signed link of a recording."""
    from assay.service.layout import LinkOutput
    from assay.service.layout import record_stop as stop

    path = stop(
        step,
        _recording([], products, base_path, exclude, lstrip_paths),
        _creds(key, identity_token, server, password_file),
        LinkOutput(links_dir, legacy, dsse),
    )
    output.warn(f"link written to {path}")


@layout_app.command("init")
def layout_init(
    out: Annotated[str, typer.Option("--out", help="YAML layout to write")] = "root.yaml",
    functionary: Annotated[
        Optional[list[str]], typer.Option("--functionary", help="NAME=PUBLIC_KEY_FILE (repeatable)")
    ] = None,
    expires_days: Annotated[int, typer.Option("--expires-days", help="layout lifetime in days")] = 365,
) -> None:
    """Write a starting YAML layout to edit."""
    from assay.service.layout import layout_init as init

    funcs = {}
    for item in functionary or []:
        name, sep, path = item.partition("=")
        if not sep or not name:
            raise InputError("usage", f"--functionary {item!r}: expected NAME=PUBLIC_KEY_FILE")
        funcs[name] = path
    output.say(f"Layout written to {init(out, funcs, expires_days)}")


@layout_app.command("sign")
def layout_sign(
    layout: Annotated[str, typer.Argument(help="YAML layout, or an in-toto layout to add signatures to")],
    key: Annotated[list[str], typer.Option("--key", help="layout key file or signer URI (repeatable)")],
    out: Annotated[Optional[str], typer.Option("--out", help="signed layout (default LAYOUT.layout)")] = None,
    password_file: PasswordFileOpt = None,
) -> None:
    """Convert a YAML layout to the in-toto format and sign it with every key."""
    from assay.service.layout import layout_sign as sign

    output.say(f"Signed layout written to {sign(layout, key, out, password_file)}")


def verify_layout(
    layout: Annotated[str, typer.Option("--layout", help="signed in-toto layout")],
    layout_key: Annotated[list[str], typer.Option("--layout-key", help="layout owner's public key (repeatable)")],
    links: Annotated[str, typer.Option("--links", help="directory of links")] = ".",
    artifacts: Annotated[
        Optional[str], typer.Option("--artifacts", help="final artifacts; inspections run here")
    ] = None,
    artifacts_exclude: Annotated[
        Optional[list[str]],
        typer.Option(
            "--artifacts-exclude", help="gitignore-style pattern of files in --artifacts not to compare (repeatable)"
        ),
    ] = None,
    run_inspections: Annotated[bool, typer.Option("--run-inspections", help="run the layout's inspections")] = False,
    layout_source: Annotated[
        Optional[str], typer.Option("--layout-source", help="the YAML the layout was signed from (for file:line)")
    ] = None,
    trusted_root: TrustedRootOpt = None,
    server: ServerOpt = None,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Verify a supply chain: layout signatures and expiry, link signatures, thresholds, rules, inspections."""
    fastpath.verify_layout_command(
        layout, list(layout_key), links, artifacts, artifacts_exclude, run_inspections, layout_source,
        trusted_root, server, output_fmt.value,
    )  # fmt: skip


def rebuild_check(
    link: Annotated[
        list[str], typer.Option("--link", help="a builder's link or SLSA provenance bundle (give two or more)")
    ],
    link_key: Annotated[
        Optional[list[str]], typer.Option("--link-key", help="public key to check the links' signatures (repeatable)")
    ] = None,
    artifacts: Annotated[
        Optional[list[str]], typer.Option("--artifacts", help="each builder's output directory, in --link order")
    ] = None,
    key: KeyOpt = None,
    attestation: Annotated[
        Optional[str], typer.Option("--attestation", help="write the signed reproducibility attestation here")
    ] = None,
    password_file: PasswordFileOpt = None,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Compare the products of independent builds; explain differences (diffoscope); sign the verdict."""
    from assay.service.rebuild import RebuildRequest, rebuild_check

    req = RebuildRequest(list(link), list(link_key or []), list(artifacts or []), key, attestation, password_file)
    try:
        report = rebuild_check(req)
    except AssayError as exc:
        if output_fmt is OutputFormat.json:
            output.emit_json(output.error_json(exc))
        raise
    if output_fmt is OutputFormat.json:
        output.emit_json(report.to_json())
    else:
        for line in report.lines():
            output.warn(line)
        if report.attestation_path:
            output.warn(f"attestation written to {report.attestation_path}")
        output.say("Reproducible" if report.reproducible else "NOT reproducible")
    if not report.reproducible:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the in-toto commands to the ``assay`` app."""
    ctx = {"allow_interspersed_args": False}
    app.command("run", context_settings=ctx)(run)
    app.command("verify-layout")(verify_layout)
    app.command("rebuild-check")(rebuild_check)
    app.add_typer(record_app, name="record")
    app.add_typer(layout_app, name="layout")


register(root_app)
