"""``assay tuf client init|refresh|download``: a TUF client (python-tuf ngclient) for an assay or any TUF repository.

Registered on the ``assay tuf`` group as ``client``. Every refusal prints one ``error[reason]: …`` line: exit 1
when the repository's metadata or a target is refused (an attack or a broken repository), 3 when it cannot be
reached, 2 for unusable input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from assay.cli import output

client_app = typer.Typer(
    help="A TUF client: trust a root out of band, update metadata, download verified targets.", no_args_is_help=True
)

DirOpt = Annotated[
    Optional[Path],
    typer.Option("--metadata-dir", help="client state (default: one directory per --metadata-url under XDG_DATA_HOME)"),
]
UrlOpt = Annotated[
    Optional[str], typer.Option("--metadata-url", help="the repository's metadata URL (default: the one given at init)")
]
TargetUrlOpt = Annotated[
    Optional[str], typer.Option("--target-base-url", help="where targets are fetched (default: METADATA_URL/targets/)")
]
OfflineOpt = Annotated[
    bool, typer.Option("--offline", help="fetch nothing: use the cached metadata, refused once any of it is expired")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the result as JSON")]


@client_app.command("init")
def init(
    root: Annotated[Path, typer.Argument(help="the repository's root.json, obtained out of band (never on first use)")],
    metadata_dir: DirOpt = None,
    metadata_url: UrlOpt = None,
    target_base_url: TargetUrlOpt = None,
) -> None:
    """Make ROOT the trust anchor for a repository (it must carry its own threshold of signatures)."""
    from assay.errors import InputError
    from assay.tuf import client

    try:
        data = root.read_bytes()
    except OSError as exc:
        raise InputError("file-unreadable", f"{root}: {exc.strerror}") from None
    dirs = client.load_dirs(metadata_dir, metadata_url, target_base_url)
    signed = client.init(data, dirs)
    output.say(f"trusted root v{signed.version} (expires {signed.expires.isoformat()}) in {dirs.metadata_dir}")


@client_app.command("refresh")
def refresh(
    metadata_dir: DirOpt = None,
    metadata_url: UrlOpt = None,
    offline: OfflineOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Update root, timestamp, snapshot and targets by the TUF client workflow (or verify the cache, --offline)."""
    from assay.tuf import client

    dirs = client.load_dirs(metadata_dir, metadata_url)
    roles = client.refresh(dirs, offline=offline)
    if as_json:
        output.emit_json([{"role": r.name, "version": r.version, "expires": r.expires} for r in roles])
        return
    for r in roles:
        output.say(f"{r.name}\tv{r.version}\texpires {r.expires}")


@client_app.command("download")
def download(
    targets: Annotated[list[str], typer.Argument(help="TUF target paths, fetched in order")],
    metadata_dir: DirOpt = None,
    metadata_url: UrlOpt = None,
    target_base_url: TargetUrlOpt = None,
    target_dir: Annotated[
        Optional[Path],
        typer.Option("--target-dir", help="where verified targets are kept (default: METADATA_DIR/targets)"),
    ] = None,
    offline: OfflineOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Download and verify targets (a verified cached copy is not fetched again); prints each file's path."""
    from assay.tuf import client

    dirs = client.load_dirs(metadata_dir, metadata_url, target_base_url, target_dir)
    done = client.download(dirs, targets, offline=offline)
    if as_json:
        output.emit_json(
            [
                {"target": d.name, "path": str(d.path), "cached": d.cached, "length": d.length, "sha256": d.sha256}
                for d in done
            ]
        )
        return
    for d in done:
        output.say(f"{d.path}{' (cached)' if d.cached else ''}")
