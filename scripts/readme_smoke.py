#!/usr/bin/env python3
"""Prove the README contract from a runtime-only install (part of `make test`).

1. Build a fresh virtualenv with `pip install .` only: no test extras, no editable install.
2. In that venv, import every module of `assay` and resolve every import statement in its sources (also the
   ones inside functions), so a dependency that only a test extra pulls in fails here.
3. Start `make run`'s entry point (`scripts/run.sh VENV/bin/assay`) on a free loopback port, wait for /healthz.
4. Run the README's quickstart block as written (keygen, sign-blob/verify-blob with --server, the keyless flow
   with `assay dev token`) with that venv's `assay`, check the outputs, then tamper with the artifact: every
   `verify-blob` of the quickstart must now exit 1.
5. Stop the server.

Standard library only: it runs before (and apart from) the test environment. Exit 0 on success, 1 on failure.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# What the quickstart's commands must print: a changed output fails CI (the README shows these flows).
EXPECTED = [
    ("keygen", r"Private key written to release\.key"),
    ("sign-blob --key", r"tlog entry created with index \d+"),
    ("verify-blob --key", r"ok\s+tlog: 1 entry included and consistent"),
    ("verify-blob", r"Verified OK"),
    ("verify-blob --certificate-identity", r"ok\s+identity: me@example\.com via http://127\.0\.0\.1:\d+/dev/oidc"),
]

IMPORT_CHECK = r"""
import ast, importlib, pkgutil, sys
from pathlib import Path
import assay
root = Path(assay.__file__).parent
if not str(root).startswith(sys.prefix):
    sys.exit(f"assay imported from {root}, not from the runtime venv {sys.prefix}")
failures, modules, statements = [], 0, 0
for info in pkgutil.walk_packages(assay.__path__, "assay."):
    if info.name.endswith(".__main__"):
        continue  # running it would start the CLI; its imports are resolved below
    modules += 1
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failures.append(f"import {info.name}: {type(exc).__name__}: {exc}")
def guarded(tree):  # imports inside try/except ImportError: an optional extra, handled where it is used
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError") for h in node.handlers
        ):
            out.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return out
for path in sorted(root.rglob("*.py")):
    tree = ast.parse(path.read_text(), str(path))
    optional = guarded(tree)
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [(node.module, a.name) for a in node.names]
        for module, attr in names:
            statements += 1
            try:
                mod = importlib.import_module(module)
                if attr and attr != "*" and not hasattr(mod, attr):
                    importlib.import_module(f"{module}.{attr}")
            except Exception as exc:
                failures.append(f"{path.relative_to(root.parent)}:{node.lineno}: {module}{'.' + attr if attr else ''}: {type(exc).__name__}: {exc}")
print(f"runtime-only venv: {modules} modules imported, {statements} import statements resolved")
if failures:
    print("\n".join(sorted(set(failures))))
    sys.exit(1)
"""


def step(text: str) -> None:
    print(f"smoke: {text}", flush=True)


def fail(text: str) -> None:
    print(f"smoke: FAIL: {text}", file=sys.stderr, flush=True)
    sys.exit(1)


def clean_env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def build_venv(venv: Path) -> None:
    step(f"building a runtime-only virtualenv in {venv} (pip install .)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    env = clean_env(venv)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "-q", "--disable-pip-version-check"]
    build = Path(tempfile.mkdtemp(prefix="assay-build-"))
    try:
        # Install from a copy of the tracked sources so nothing in the work tree (egg-info, build/) leaks in.
        files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
        for name in filter(None, files.decode().split("\0")):
            src = REPO / name
            if src.is_file():
                (build / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, build / name)
        proc = subprocess.run([*pip, "install", str(build)], env=env, capture_output=True, text=True)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    if proc.returncode != 0:
        fail(f"pip install . failed:\n{proc.stdout}\n{proc.stderr}")
    extras = subprocess.run([*pip, "list", "--format=freeze"], env=env, capture_output=True, text=True).stdout
    for test_only in ("pytest", "sigstore", "in-toto", "hypothesis"):
        if re.search(rf"^{test_only}==", extras, re.M | re.I):
            fail(f"{test_only} is installed in the runtime venv: a runtime dependency pulls in a test tool")


def check_imports(venv: Path, cwd: Path) -> None:
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", IMPORT_CHECK], cwd=cwd, env=clean_env(venv), capture_output=True, text=True
    )
    print(proc.stdout.strip(), flush=True)
    if proc.returncode != 0:
        fail(f"imports that do not resolve from `pip install .` alone:\n{proc.stdout}{proc.stderr}")


def quickstart_block() -> list[str]:
    """The README quickstart's shell commands (the block after "Then, in another terminal"), continuations joined."""
    text = (REPO / "README.md").read_text()
    m = re.search(r"Then, in another terminal.*?```sh\n(.*?)```", text, re.S)
    if not m:
        fail("README.md has no quickstart block after 'Then, in another terminal'")
    assert m is not None
    joined = m.group(1).replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            commands.append(re.sub(r"\s+", " ", line))
    return commands


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            fail(f"`make run`'s server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    fail(f"no /healthz answer within 60 s:\n{log.read_text()}")


def run_block(commands: list[str], port: int, work: Path, venv: Path) -> str:
    """Run the quickstart as one shell script (so TOKEN=$(...) carries over); stop at the first failure."""
    lines = ["set -euo pipefail"]
    for cmd in commands:
        if cmd.startswith(". ") or cmd.startswith("source "):
            continue  # activating the venv: the runtime venv is first on PATH already
        cmd = cmd.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        lines.append(f"echo '$ {cmd}' >&2")
        lines.append(cmd)
    proc = subprocess.run(
        ["bash", "-c", "\n".join(lines)], cwd=work, env=clean_env(venv), capture_output=True, text=True, timeout=300
    )
    out = proc.stdout + proc.stderr
    print(out, flush=True)
    if proc.returncode != 0:
        fail(f"the README quickstart failed (exit {proc.returncode})")
    return out


def check_outputs(commands: list[str], out: str) -> None:
    used = " ".join(commands)
    for command, pattern in EXPECTED:
        words = command.split()
        if not re.search(rf"assay {re.escape(words[0])}\b" + "".join(rf".*{re.escape(w)}" for w in words[1:]), used):
            fail(f"the README quickstart no longer shows `assay {command}`")
        if not re.search(pattern, out):
            fail(f"`assay {command}` no longer prints /{pattern}/")


def tamper(commands: list[str], port: int, work: Path, venv: Path) -> None:
    """Replay the quickstart: sign the original artifact, tamper with it, and every verify-blob must exit 1."""
    if not any(c.startswith("assay verify-blob") for c in commands):
        fail("the README quickstart has no verify-blob command")
    artifact = work / "dist" / "app.tar.gz"
    original = artifact.read_bytes()
    lines = [
        "set -uo pipefail",
        f"restore() {{ cp {artifact}.orig {artifact}; }}",
        f"tamper() {{ echo tampered >> {artifact}; }}",
    ]
    artifact.with_name(artifact.name + ".orig").write_bytes(original)
    for cmd in commands:
        cmd = cmd.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        if cmd.startswith(". ") or cmd.startswith("source ") or cmd.startswith("assay keygen"):
            continue
        if cmd.startswith("assay verify-blob"):
            lines += [
                "tamper",
                f"{cmd} 2>err.txt; rc=$?",
                f'if [ $rc != 1 ] || ! grep -q "^error\\[" err.txt; then echo "exit $rc: {cmd}"; cat err.txt; exit 1; fi',
                'echo "refused (exit 1): $(tail -1 err.txt)"',
                "restore",
            ]
        else:
            lines += ["restore", f"{cmd} >/dev/null 2>&1 || {{ echo 'failed: {cmd}'; exit 1; }}"]
    proc = subprocess.run(
        ["bash", "-c", "\n".join(lines)], cwd=work, env=clean_env(venv), capture_output=True, text=True
    )
    for line in proc.stdout.splitlines():
        step(f"tampered artifact {line}")
    if proc.returncode != 0:
        fail(f"a tampered artifact was not refused with exit 1:\n{proc.stdout}{proc.stderr}")


def main() -> None:
    started = time.monotonic()
    base = Path(os.environ.get("ASSAY_SMOKE_DIR") or tempfile.mkdtemp(prefix="assay-smoke-"))
    venv, work = base / "venv", base / "work"
    shutil.rmtree(work, ignore_errors=True)
    (work / "dist").mkdir(parents=True)
    (work / "dist" / "app.tar.gz").write_bytes(os.urandom(4096))
    build_venv(venv)
    check_imports(venv, work)
    port = free_port()
    log = base / "server.log"
    step(f"starting `make run`'s entry point on 127.0.0.1:{port}")
    env = {**clean_env(venv), "ASSAY_PORT": str(port)}
    with log.open("wb") as fh:
        server = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "run.sh"), str(venv / "bin" / "assay")],
            cwd=work,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server, log)
        commands = quickstart_block()
        out = run_block(commands, port, work, venv)
        if (work / "release.key").stat().st_mode & 0o077:
            fail("release.key is readable by others (expected mode 0600)")
        check_outputs(commands, out)
        tamper(commands, port, work, venv)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            fail("the server did not stop within 20 s of SIGTERM")
    step(f"README contract holds from `pip install .` alone ({time.monotonic() - started:.1f} s)")
    if not os.environ.get("ASSAY_SMOKE_DIR"):
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
