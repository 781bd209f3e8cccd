"""Checksum files (sha256sum) and OpenPGP detached signatures."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from assay.cli import output
from assay.cli.app import app
from assay.cli.options import (
    JsonResult,
    OutFileOpt,
    OutputFormat,
    OutputOpt,
    PasswordFileOpt,
    TokenOpt,
    YesOpt,
    read_token,
    verify_output,
)
from assay.errors import InputError

checksums_app = typer.Typer(help="Create and verify sha256sum checksum files.", no_args_is_help=True)
pgp_app = typer.Typer(help="OpenPGP detached signatures.", no_args_is_help=True)
app.add_typer(checksums_app, name="checksums")
app.add_typer(pgp_app, name="pgp")


@checksums_app.command("create")
def checksums_create(
    files: Annotated[list[str], typer.Argument(help="files to list")],
    tag: Annotated[bool, typer.Option("--tag", help="BSD-style lines")] = False,
    out: OutFileOpt = None,
    key: Annotated[Optional[str], typer.Option("--key", help="also sign the checksums file")] = None,
    bundle: Annotated[Optional[str], typer.Option("--bundle", help="bundle for the signature")] = None,
    password_file: PasswordFileOpt = None,
    server: Annotated[
        Optional[str],
        typer.Option("--server", help="assay server: log the key's signature, or sign keyless without --key"),
    ] = None,
    identity_token: TokenOpt = None,
    yes: YesOpt = False,
) -> None:
    """Write sha256sum-format checksums for FILES; sign them with --key, or keyless with --server (CI token found)."""
    from assay import checksums
    from assay.service import blob
    from assay.service.io import write_atomic

    token = read_token(identity_token)
    signing = bool(key or server or token)
    text = checksums.create(files, tag=tag)
    if signing and not out:
        raise InputError("output-required", "signing needs --out so the signed file exists")
    if out:
        write_atomic(out, text.encode())
    else:
        sys.stdout.write(text)
    if signing and out:
        _, bpath = blob.sign_file(out, key, bundle, password_file, server, token)
        output.warn(f"Signed {out}; bundle written to {bpath}")


@checksums_app.command("verify")
def checksums_verify(
    sums: Annotated[str, typer.Argument(help="checksums file")],
    ignore_missing: Annotated[bool, typer.Option("--ignore-missing", help="skip files that do not exist")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="an improperly formatted line is an error")] = False,
    bundle: Annotated[Optional[str], typer.Option("--bundle", help="bundle signing the checksums file")] = None,
    key: Annotated[Optional[str], typer.Option("--key", help="public key for --bundle")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="do not print OK lines")] = False,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Check files against a checksums file, as ``sha256sum -c``."""
    from assay import checksums
    from assay.service import blob
    from assay.service.io import read_file

    if bool(bundle) != bool(key):
        raise InputError("usage", "--bundle and --key go together")
    signature = None
    if bundle and key:
        if sums == "-":
            raise InputError("usage", "a signed checksums file must be a file, not stdin")
        signature = blob.verify_file(sums, bundle, key).to_json()
    data = read_file(sums, "checksums file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    report = checksums.verify(text, source=sums, ignore_missing=ignore_missing, strict=strict)
    if output_fmt is OutputFormat.json:
        output.emit_json(
            {
                "verified": report.ok,
                "signature": signature,
                "files": [r.__dict__ for r in report.results],
                "improperlyFormattedLines": list(report.bad_lines),
                "ignoredMissing": report.ignored_missing,
            }
        )
    else:
        for r in report.results:
            if r.status == "missing":
                output.warn(f"assay: {r.name}: No such file or directory")
            if not (quiet and r.status == "ok"):
                output.say(r.line())
        for w in report.warnings():
            output.warn(f"assay: {w}")
    if report.verified == 0 and report.missing == 0:
        output.warn(f"assay: {sums}: no file was verified")
    if not report.ok:
        raise typer.Exit(1)


@pgp_app.command("verify")
def pgp_verify(
    file: Annotated[str, typer.Argument(help="the signed file")],
    signature: Annotated[str, typer.Option("--signature", help="detached signature (.asc or .sig)")],
    key: Annotated[str, typer.Option("--key", help="armored or binary public key file")],
    fingerprint: Annotated[
        Optional[str], typer.Option("--fingerprint", help="required primary key fingerprint")
    ] = None,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Verify an OpenPGP detached signature against a given key."""

    from assay import pgp

    def render(res: JsonResult) -> None:
        output.warn(f"  signed by {res['primary_fingerprint']} {res['user_id']}")
        output.say("Verified OK")

    def run() -> JsonResult:
        return JsonResult(verified=True, **pgp.verify(Path(file), Path(signature), Path(key), fingerprint).__dict__)

    verify_output(output_fmt, run, render)
