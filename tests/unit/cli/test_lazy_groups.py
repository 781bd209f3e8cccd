"""The start-up map of command names to groups (``assay.cli.main.COMMANDS``) matches what the groups register."""

from __future__ import annotations

import os
import subprocess
import sys


def _registrations() -> str:
    probe = (
        "import importlib\n"
        "from assay.cli.app import app\n"
        "from assay.cli.main import GROUPS, COMMANDS\n"
        "seen = {}\n"
        "for g in GROUPS:\n"
        "    nc, ng = len(app.registered_commands), len(app.registered_groups)\n"
        "    importlib.import_module(f'assay.cli.{g}')\n"
        "    for c in app.registered_commands[nc:]:\n"
        "        seen[c.name or c.callback.__name__.replace('_', '-')] = g\n"
        "    for t in app.registered_groups[ng:]:\n"
        "        seen[t.name or t.typer_instance.info.name] = g\n"
        "print(sorted(seen.items()) == sorted(COMMANDS.items()), sorted(set(seen.items()) ^ set(COMMANDS.items())))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=os.environ, check=True)
    return out.stdout.strip()


def test_every_command_is_mapped_to_the_group_that_registers_it() -> None:
    assert _registrations() == "True []"


def test_a_command_loads_only_its_group() -> None:
    probe = (
        "import sys\n"
        "from assay.cli import main\n"
        "main._load_for(['verify-layout', '--help'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('assay.cli.') and m[10:] in main.GROUPS))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=os.environ, check=True)
    assert out.stdout.strip() == "['assay.cli.layout']"


def test_root_help_and_unknown_names_load_every_group() -> None:
    probe = (
        "import sys\n"
        "from assay.cli import main\n"
        "main._load_for(sys.argv[1:])\n"
        "print(sum(m[10:] in main.GROUPS for m in sys.modules if m.startswith('assay.cli.')), len(main.GROUPS))\n"
    )
    for argv in (["--help"], ["--help", "verify-layout"], ["no-such-command"], []):
        out = subprocess.run(
            [sys.executable, "-c", probe, *argv], capture_output=True, text=True, env=os.environ, check=True
        )
        n, total = out.stdout.split()
        assert n == total, argv


def test_version_alone_loads_no_group() -> None:
    probe = (
        "import sys\n"
        "from assay.cli import main\n"
        "main._load_for(['--version'])\n"
        "print(sum(m[10:] in main.GROUPS for m in sys.modules if m.startswith('assay.cli.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=os.environ, check=True)
    assert out.stdout.strip() == "0"
