"""Name-only exclude patterns matched without pathspec agree with pathspec's gitwildmatch."""

from __future__ import annotations

import pathspec
import pytest

from assay.service import artifacts

PATHS = [
    "a.link",
    "dir/step.abcd1234.link",
    "x.link.sigstore.json",
    ".git",
    ".git/",
    ".git/config",
    "sub/.git/HEAD",
    "sub/.gitignore",
    "m.pyc",
    "pkg/__pycache__/m.cpython-311.pyc",
    "notes~",
    "dir~/file",
    "src/main.c",
    "src/",
    "link",
    "a.lin",
    "pyc",
    "deep/er/still/file.txt",
]
PATTERNS = [
    list(artifacts.DEFAULT_EXCLUDES),
    ["*.c"],
    ["src"],
    ["*"],
    ["file*", "*.txt"],
    [],
]


@pytest.mark.parametrize("patterns", PATTERNS, ids=[",".join(p) or "none" for p in PATTERNS])
def test_name_patterns_match_as_gitwildmatch_does(patterns: list[str]) -> None:
    ours = artifacts.matcher(patterns)
    ref = pathspec.PathSpec.from_lines("gitwildmatch", patterns).match_file
    assert [p for p in PATHS if ours(p)] == [p for p in PATHS if ref(p)]


def test_other_patterns_are_gitwildmatch() -> None:
    for patterns in (["/src"], ["src/*.c"], ["!keep", "*"], ["**/x"], ["[ab].c"], ["a?c"], ["."]):
        ours = artifacts.matcher(patterns)
        assert getattr(ours, "__self__", None).__class__.__name__ == "PathSpec", patterns
