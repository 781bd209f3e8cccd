"""``assay checksums`` against the real ``sha256sum`` on the same inputs."""

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool, run_assay

NAMES = ["plain.txt", "with space.txt", "back\\slash.txt", "new\nline.txt", "*star.txt"]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for i, n in enumerate(NAMES):
        (tmp_path / n).write_bytes(f"content {i}\n".encode())
    return tmp_path


@pytest.mark.parametrize("tag", [False, True])
def test_create_matches_sha256sum(tree, tag):
    sha = require_tool("sha256sum")
    flags = ["--tag"] if tag else []
    ours = run_assay("checksums", "create", *flags, *NAMES, cwd=tree)
    theirs = subprocess.run([sha, *flags, *NAMES], cwd=tree, capture_output=True, text=True)
    assert ours.code == 0
    assert ours.out == theirs.stdout


def _both(tree: Path, sums: str, *flags: str) -> tuple[tuple[int, str], tuple[int, str]]:
    sha = require_tool("sha256sum")
    ours = run_assay("checksums", "verify", *flags, sums, cwd=tree)
    theirs = subprocess.run([sha, "-c", *flags, sums], cwd=tree, capture_output=True, text=True)
    return (ours.code, ours.out), (theirs.returncode, theirs.stdout)


@pytest.mark.parametrize("tag", [False, True])
@pytest.mark.parametrize("scenario", ["all-ok", "one-changed", "one-missing", "missing-ignored", "nothing-verified"])
def test_verify_agrees_with_sha256sum(tree, tag, scenario):
    sha = require_tool("sha256sum")
    flags = ["--tag"] if tag else []
    text = subprocess.run([sha, *flags, *NAMES], cwd=tree, capture_output=True, text=True).stdout
    (tree / "SUMS").write_text(text)
    verify_flags: list[str] = []
    if scenario == "one-changed":
        (tree / "plain.txt").write_text("changed")
    elif scenario == "one-missing":
        (tree / "with space.txt").unlink()
    elif scenario == "missing-ignored":
        (tree / "with space.txt").unlink()
        verify_flags = ["--ignore-missing"]
    elif scenario == "nothing-verified":
        for n in NAMES:
            (tree / n).unlink()
        verify_flags = ["--ignore-missing"]
    ours, theirs = _both(tree, "SUMS", *verify_flags)
    assert ours == theirs


def test_nothing_verified_message(tree):
    (tree / "SUMS").write_text("0" * 64 + "  gone.txt\n")
    r = run_assay("checksums", "verify", "--ignore-missing", "SUMS", cwd=tree)
    assert r.code == 1 and "no file was verified" in r.err


def test_lenient_skips_bad_lines_like_sha256sum(tree):
    good = run_assay("checksums", "create", "plain.txt", cwd=tree).out
    (tree / "SUMS").write_text(good + "garbage line\n")
    ours, theirs = _both(tree, "SUMS")
    assert ours == theirs
    strict = run_assay("checksums", "verify", "--strict", "SUMS", cwd=tree)
    assert strict.code == 2 and "error[checksums-malformed]" in strict.err


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "checksums-empty"),
        ("abc123  plain.txt\n", "checksums-malformed"),
        ("a" * 63 + "  plain.txt\n", "checksums-malformed"),
    ],
)
def test_bad_checksums_files_exit_2(tree, content, reason):
    (tree / "SUMS").write_text(content)
    r = run_assay("checksums", "verify", "SUMS", cwd=tree)
    assert r.code == 2 and r.err.strip().startswith(f"error[{reason}]"), r.err


def test_signed_checksums_verified_before_digests(tree):
    assert run_assay("keygen", "--output-prefix", "k", cwd=tree).code == 0
    r = run_assay(
        "checksums", "create", "plain.txt", "--out", "SUMS", "--key", "k.key", "--bundle", "SUMS.bundle", cwd=tree
    )
    assert r.code == 0, r.err
    ok = run_assay("checksums", "verify", "SUMS", "--bundle", "SUMS.bundle", "--key", "k.pub", "-o", "json", cwd=tree)
    assert ok.code == 0 and json.loads(ok.out)["signature"]["verified"]
    # An attacker rewrites both the file and its checksum: the signature catches it first.
    (tree / "plain.txt").write_text("evil")
    forged = run_assay("checksums", "create", "plain.txt", cwd=tree).out
    (tree / "SUMS").write_text(forged)
    bad = run_assay("checksums", "verify", "SUMS", "--bundle", "SUMS.bundle", "--key", "k.pub", cwd=tree)
    assert bad.code == 1 and "error[artifact-digest-mismatch]" in bad.err
    assert "OK" not in bad.out
