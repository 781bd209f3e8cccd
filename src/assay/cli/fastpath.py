"""``assay run`` and ``assay verify-layout`` without Typer: the commands build steps call in loops.

Typer imports pydantic and builds a TypeAdapter for every parameter on every start, several times the work
of recording a small tree. ``main`` hands these two commands' arguments to :func:`plan` first: it accepts
only the plain forms (``--opt VALUE``, ``--opt=VALUE``, ``-X VALUE``, ``-XVALUE``, flags, ``--`` and the
command) and answers None for anything else (``--help``, an unknown or repeated option, a value that looks
like an option, a missing required option), which Typer then parses and answers as before. The Typer
commands in ``cli/layout.py`` call the same functions below, and ``tests/unit/cli/test_fastpath.py``
keeps these option tables equal to theirs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assay.cli import output
from assay.errors import AssayError, InputError

VALUE, MULTI, FLAG = "value", "multi", "flag"


@dataclass(frozen=True)
class Spec:
    """One command's options: flag spelling -> (parameter, kind); its positional parameter, if any."""

    options: dict[str, tuple[str, str]]
    defaults: dict[str, Any]
    positional: str | None = None
    required: tuple[str, ...] = ()
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)


RUN = Spec(
    {
        "--step": ("step", VALUE),
        "-n": ("step", VALUE),
        "--materials": ("materials", MULTI),
        "-m": ("materials", MULTI),
        "--products": ("products", MULTI),
        "-p": ("products", MULTI),
        "--exclude": ("exclude", MULTI),
        "--base-path": ("base_path", VALUE),
        "--lstrip-paths": ("lstrip_paths", MULTI),
        "--key": ("key", VALUE),
        "--identity-token": ("identity_token", VALUE),
        "--server": ("server", VALUE),
        "--links-dir": ("links_dir", VALUE),
        "--legacy": ("legacy", FLAG),
        "--dsse": ("dsse", FLAG),
        "--record-streams": ("record_streams", FLAG),
        "--password-file": ("password_file", VALUE),
    },
    {"step": "", "links_dir": "."},
    positional="command",
)
VERIFY_LAYOUT = Spec(
    {
        "--layout": ("layout", VALUE),
        "--layout-key": ("layout_key", MULTI),
        "--links": ("links", VALUE),
        "--artifacts": ("artifacts", VALUE),
        "--artifacts-exclude": ("artifacts_exclude", MULTI),
        "--run-inspections": ("run_inspections", FLAG),
        "--layout-source": ("layout_source", VALUE),
        "--trusted-root": ("trusted_root", VALUE),
        "--server": ("server", VALUE),
        "--output": ("output_fmt", VALUE),
        "-o": ("output_fmt", VALUE),
    },
    {"links": ".", "output_fmt": "text"},
    required=("layout", "layout_key"),
    choices={"output_fmt": ("text", "json")},
)


def parse(spec: Spec, args: list[str]) -> dict[str, Any] | None:
    """The parameters ``args`` give, as Typer would pass them; None when Typer should parse ``args`` itself."""
    values: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--" or arg == "-" or not arg.startswith("-"):
            if spec.positional is None:
                return None
            values[spec.positional] = args[i + 1 :] if arg == "--" else args[i:]
            break
        name, eq, attached = arg.partition("=") if arg.startswith("--") else (arg[:2], "", arg[2:])
        if name not in spec.options:
            return None
        dest, kind = spec.options[name]
        if kind == FLAG:
            if eq or attached or dest in values:
                return None
            values[dest] = True
            i += 1
            continue
        if eq or attached:
            value, i = attached, i + 1
        elif i + 1 < len(args):
            value, i = args[i + 1], i + 2
        else:
            return None
        if value.startswith("-") and not eq:  # Typer would take it as the value; its errors are its own
            return None
        if kind == MULTI:
            values.setdefault(dest, []).append(value)
        elif dest in values:
            return None
        else:
            values[dest] = value
    if any(r not in values for r in spec.required):
        return None
    if any(k in values and values[k] not in allowed for k, allowed in spec.choices.items()):
        return None
    out: dict[str, Any] = {dest: None for dest, _ in spec.options.values()}
    out.update({dest: False for dest, kind in spec.options.values() if kind == FLAG})
    if spec.positional is not None:
        out[spec.positional] = None
    out.update(spec.defaults)
    out.update(values)
    return out


def recording(materials: Any, products: Any, base: Any, exclude: Any, lstrip: Any) -> Any:
    """The service's recording options from the command's flags."""
    from assay.service.layout import Recording

    return Recording(list(materials or []), list(products or []), base, list(exclude or []), list(lstrip or []))


def credentials(key: str | None, token: str | None, server: str | None, password_file: str | None) -> Any:
    """The signing credentials: a key file or signer URI, or an identity token (``ASSAY_IDENTITY_TOKEN``)."""
    from assay.service.credentials import Credentials

    if token is not None or os.environ.get("ASSAY_IDENTITY_TOKEN"):
        from assay.cli.options import read_token  # keyless signing: Typer's import is nothing beside the network

        token = read_token(token)
    return Credentials.resolve(key, token, server, password_file)


def run_command(
    command: list[str] | None,
    step: str,
    materials: list[str] | None,
    products: list[str] | None,
    exclude: list[str] | None,
    base_path: str | None,
    lstrip_paths: list[str] | None,
    key: str | None,
    identity_token: str | None,
    server: str | None,
    links_dir: str,
    legacy: bool,
    dsse: bool,
    record_streams: bool,
    password_file: str | None,
) -> int:
    """``assay run``: the step's command run and its signed link written; returns the command's exit code."""
    from assay.service.layout import LinkOutput, run_step

    if not step:
        raise InputError("usage", "give --step NAME")
    code, path = run_step(
        step,
        list(command or []),
        recording(materials, products, base_path, exclude, lstrip_paths),
        credentials(key, identity_token, server, password_file),
        LinkOutput(links_dir, legacy, dsse),
        record_streams=record_streams,
    )
    output.warn(f"link written to {path}")
    return code


def render_layout(result: Any) -> None:
    """The text rendering of a verified supply chain."""
    for s in result.steps:
        who = ", ".join(k[:8] for k in s.functionaries)
        output.warn(f"  ok   {s.kind} {s.name}" + (f" (functionaries {who})" if who else ""))
        for r in [*s.materials, *s.products]:
            output.warn(f"         {r.rule}  [{r.location}] consumed {r.count}")
    for note in result.notes:
        output.warn(f"note: {note}")
    output.say("Layout verified OK")


def verify_layout_command(
    layout: str,
    layout_key: list[str],
    links: str,
    artifacts: str | None,
    artifacts_exclude: list[str] | None,
    run_inspections: bool,
    layout_source: str | None,
    trusted_root: str | None,
    server: str | None,
    output_fmt: str,
) -> int:
    """``assay verify-layout``: rendered as text or JSON (a failure too, with ``-o json``); returns 0."""
    from assay.service.layout import VerifyRequest, verify

    req = VerifyRequest(
        layout,
        list(layout_key),
        links,
        artifacts,
        run_inspections,
        layout_source,
        trusted_root,
        server,
        tuple(artifacts_exclude or ()),
    )
    try:
        result = verify(req)
    except AssayError as exc:
        if output_fmt == "json":
            output.emit_json(output.error_json(exc))
        raise
    if output_fmt == "json":
        output.emit_json(result.to_json())
    else:
        render_layout(result)
    return 0


COMMANDS: dict[str, tuple[Spec, Callable[..., int]]] = {
    "run": (RUN, run_command),
    "verify-layout": (VERIFY_LAYOUT, verify_layout_command),
}


def plan(argv: list[str]) -> Callable[[], int] | None:
    """The command ``argv`` asks for, ready to call, when it is one of :data:`COMMANDS` in plain form."""
    verbose = False
    i = 0
    while i < len(argv) and argv[i] in ("-v", "--verbose"):
        verbose, i = True, i + 1
    if i >= len(argv) or argv[i] not in COMMANDS:
        return None
    spec, call = COMMANDS[argv[i]]
    params = parse(spec, argv[i + 1 :])
    if params is None:
        return None

    def invoke() -> int:
        output.state["verbose"] = verbose
        return call(**params)

    return invoke
