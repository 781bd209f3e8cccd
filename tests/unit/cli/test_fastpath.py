"""``assay run`` and ``verify-layout`` parsed without Typer: the same parameters as Typer, or Typer decides."""

from __future__ import annotations

import subprocess
import sys
from enum import Enum
from typing import Any

import pytest
import typer

from assay.cli import fastpath
from assay.cli.main import load_all


def _command(name: str) -> Any:
    return typer.main.get_command(load_all()).commands[name]  # type: ignore[attr-defined]


def _typer_params(name: str, args: list[str]) -> dict[str, Any]:
    """The parameters Typer passes; an empty list is None (every caller reads them as ``x or []``)."""
    ctx = _command(name).make_context(name, list(args))
    out = {}
    for k, v in ctx.params.items():
        if isinstance(v, Enum):
            v = v.value
        elif isinstance(v, tuple | list):
            v = list(v) or None
        out[k] = v
    return out


@pytest.mark.parametrize(("name", "spec"), [("run", fastpath.RUN), ("verify-layout", fastpath.VERIFY_LAYOUT)])
def test_option_tables_are_the_typer_commands_options(name: str, spec: fastpath.Spec) -> None:
    theirs = {}
    positional = None
    for p in _command(name).params:
        if p.param_type_name == "argument":
            positional = p.name
            continue
        kind = fastpath.FLAG if p.is_flag else fastpath.MULTI if p.multiple else fastpath.VALUE
        for flag in p.opts:
            theirs[flag] = (p.name, kind)
    assert spec.options == theirs
    assert spec.positional == positional


RUN_ARGS = [
    ["--step", "s", "--key", "k.key", "--", "make", "-j2"],
    ["-n", "s", "-m", "src", "-m", "lib", "-p", ".", "--legacy", "--dsse", "--record-streams", "true"],
    ["--step=s", "--products=.", "--exclude", "*.o", "--lstrip-paths", "build/", "--base-path", "b", "--", "x"],
    ["-ns", "-p.", "--links-dir", "out", "--password-file", "pw", "--server", "http://h", "cc", "--legacy", "-x"],
    ["--step", "s", "--identity-token", "tok"],
    [],
]
VERIFY_ARGS = [
    ["--layout", "root.layout", "--layout-key", "a.pub", "--layout-key", "b.pub"],
    ["--layout=r", "--layout-key=a", "--links", "l", "--artifacts", "d", "--artifacts-exclude", "*.x", "-o", "json"],
    ["--layout", "r", "--layout-key", "a", "--run-inspections", "--layout-source", "r.yaml", "--output=text"],
    ["--layout", "r", "--layout-key", "a", "--trusted-root", "t.json", "--server", "http://h"],
]


@pytest.mark.parametrize("args", RUN_ARGS)
def test_run_arguments_parse_as_typer_parses_them(args: list[str]) -> None:
    assert fastpath.parse(fastpath.RUN, args) == _typer_params("run", args)


@pytest.mark.parametrize("args", VERIFY_ARGS)
def test_verify_layout_arguments_parse_as_typer_parses_them(args: list[str]) -> None:
    assert fastpath.parse(fastpath.VERIFY_LAYOUT, args) == _typer_params("verify-layout", args)


@pytest.mark.parametrize(
    ("spec", "args"),
    [
        (fastpath.RUN, ["--help"]),
        (fastpath.RUN, ["--step", "s", "--bogus"]),
        (fastpath.RUN, ["--step", "a", "--step", "b"]),
        (fastpath.RUN, ["--step"]),
        (fastpath.RUN, ["--step", "--key"]),
        (fastpath.RUN, ["--legacy=yes"]),
        (fastpath.RUN, ["-nx", "-ab"]),
        (fastpath.VERIFY_LAYOUT, ["--layout", "r"]),
        (fastpath.VERIFY_LAYOUT, ["--layout", "r", "--layout-key", "a", "-o", "yaml"]),
        (fastpath.VERIFY_LAYOUT, ["--layout", "r", "--layout-key", "a", "extra"]),
    ],
)
def test_anything_else_is_left_to_typer(spec: fastpath.Spec, args: list[str]) -> None:
    assert fastpath.parse(spec, args) is None


def test_plan_takes_the_verbose_flag_and_only_its_commands() -> None:
    assert fastpath.plan(["-v", "run", "--step", "s"]) is not None
    assert fastpath.plan(["--version"]) is None
    assert fastpath.plan(["layout", "sign", "x"]) is None
    assert fastpath.plan(["--help", "run"]) is None


def test_a_planned_command_does_not_import_typer() -> None:
    probe = (
        "import sys\n"
        "from assay.cli import fastpath\n"
        "fastpath.plan(['run', '--step', 's', '--key', 'k', '--', 'true'])\n"
        "fastpath.plan(['verify-layout', '--layout', 'r', '--layout-key', 'k'])\n"
        "print(sorted(m for m in ('typer', 'pydantic', 'pathspec') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
