"""assay's pinning checks against OpenSSF Scorecard's Pinned-Dependencies results on Scorecard's own test files.

The Scorecard figures are the expected values in Scorecard's tests (see tests/data/scorecard/SOURCE.md). Where the
two differ, the difference is one of the deliberate choices named here, and the test shows that those choices
account for all of it: applying them to assay's answers gives Scorecard's numbers exactly.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from assay.checklist.dockerfile import FromLine, parse_froms, parse_runs
from assay.checklist.runs import check_run, shell_text

DATA = Path(__file__).parents[2] / "data" / "scorecard"

# file -> unpinned FROM lines Scorecard reports
SCORECARD_FROM = {
    "Dockerfile-empty": 0, "Dockerfile-comments": 0, "Dockerfile-pinned": 0, "Dockerfile-pinned-as": 0,
    "Dockerfile-from-scratch": 0, "Dockerfile-not-pinned-as": 2, "Dockerfile-not-pinned": 1,
    "Dockerfile-not-pinned-as-simple": 1, "Dockerfile-not-pinned-with-parser-error": 1, "Dockerfile-pinned-arg": 0,
    "Dockerfile-pinned-as-without-hash": 4, "Dockerfile-args": 2, "Dockerfile-base": 0,
}  # fmt: skip
SCORECARD_PKG_MANAGERS_UNPINNED = 63


def _scorecard_view(froms: list[FromLine]) -> int:
    """assay's parse, counted Scorecard's way: (1) a stage built FROM an unpinned stage is reported again (assay
    reports the unpinned root once: one fix); (2) ``@sha256:${VAR}`` counts as pinned (assay cannot show a digest
    that a build argument supplies, so it does not call it pinned)."""
    unpinned_stages: set[str] = set()
    stages: set[str] = set()
    count = 0
    for f in froms:
        if f.image.lower() in stages:
            bad = f.image.lower() in unpinned_stages
        elif f.unresolved:
            bad = "@sha256:" not in f.image
        else:
            bad = not f.pinned
        count += bad
        if f.stage:
            stages.add(f.stage)
            if bad:
                unpinned_stages.add(f.stage)
    return count


@pytest.mark.parametrize("name", sorted(SCORECARD_FROM))
def test_base_image_pinning_matches_scorecard_up_to_the_named_choices(name: str) -> None:
    froms = parse_froms((DATA / name).read_text())
    assert _scorecard_view(froms) == SCORECARD_FROM[name]


def test_where_assay_differs_on_base_images() -> None:
    def ours(name: str) -> list[str]:
        return [f.image for f in parse_froms((DATA / name).read_text()) if not f.pinned]

    # an unpinned stage's descendants are not reported again
    assert ours("Dockerfile-not-pinned-as") == ["python:3.7"]
    assert ours("Dockerfile-pinned-as-without-hash") == ["python:3.7@sha256:v2", "python@sha256:v2"]
    # a digest supplied by a build argument is not shown to be pinned
    assert ours("Dockerfile-base") == ["pk@sha256:${ARG}"]
    assert len(ours("Dockerfile-args")) == 4


def _argv(cmd: str) -> list[list[str]]:
    out = []
    for part in re.split(r"&&|\|\||;|\n|\|", shell_text(cmd)):
        try:
            out.append(shlex.split(part))
        except ValueError:
            out.append(part.split())
    return [w for w in out if w]


def _pip_args(w: list[str]) -> list[str] | None:
    if w and re.fullmatch(r"pip[0-9.]*", w[0].rsplit("/", 1)[-1]) and w[1:2] == ["install"]:
        return w[2:]
    if w and re.fullmatch(r"python[0-9.]*", w[0]) and w[1:4] == ["-m", "pip", "install"]:
        return w[4:]
    return None


# The deliberate differences on RUN lines: (name, predicate on a pip install's arguments, +1 when Scorecard flags
# it and assay does not, -1 the other way round).
PIP_DIFFERENCES = [
    # `-r FILE` is judged by FILE's hashes (checked where the file lives), not refused outright
    ("requirements file", lambda a: "-r" in a and "--require-hashes" not in a, +1),
    # nothing to install: pip fails, nothing is fetched
    ("nothing to install", lambda a: "-r" not in a and not [x for x in a if not x.startswith("-")], +1),
    # a wheel still pulls its dependencies unpinned unless --no-deps
    ("wheel without --no-deps",
     lambda a: "--no-deps" not in a and all(x.endswith(".whl") for x in a if not x.startswith("-")) and any(
         x.endswith(".whl") for x in a), -1),
    # Mercurial revisions are content hashes, like git's
    ("hg at a node id", lambda a: "--no-deps" in a and any(x.startswith("hg+") and re.search("@[0-9a-f]{40}", x)
                                                            for x in a), +1),
    # pip needs `git+` for a VCS requirement: a bare git:// URL is not one
    ("git:// without git+", lambda a: any(x.startswith("git://") for x in a), -1),
]  # fmt: skip


def test_dependency_pinning_matches_scorecard_up_to_the_named_choices() -> None:
    text = (DATA / "Dockerfile-pkg-managers").read_text()
    runs = parse_runs(text)
    ours = sum(len(check_run("Dockerfile", n, cmd)) for n, cmd in runs)
    seen: dict[str, int] = {}
    delta = 0
    for _, cmd in runs:
        for w in _argv(cmd):
            args = _pip_args(w)
            if args is None:
                continue
            for name, applies, sign in PIP_DIFFERENCES:
                if applies(args):
                    seen[name] = seen.get(name, 0) + 1
                    delta += sign
    assert set(seen) == {name for name, _, _ in PIP_DIFFERENCES}  # every named choice is exercised
    assert ours + delta == SCORECARD_PKG_MANAGERS_UNPINNED


def test_what_both_refuse() -> None:
    def reasons(cmd: str) -> list[str]:
        return [f.reason for f in check_run("D", 1, cmd)]

    assert reasons("go install github.com/org/name@some_tag") == ["go-install-unpinned"]
    assert reasons('["go", "get", "-insecure", "somerepo.com/org/name@v1.2.3"]') == ["go-install-unpinned"]
    assert reasons("go get somerepo.com/org/name@v1.2.3") == []  # the checksum database fixes it
    assert reasons("npm i -g typescript") == ["npm-install-not-ci"] and reasons("npm ci") == []
    assert reasons("npm install github:org/x#" + "a" * 40) == []
    assert reasons("choco install 'x'") == ["choco-unverified"] and reasons("choco install --requirechecksums x") == []
    assert reasons("dotnet restore") == ["nuget-not-locked"] and reasons("dotnet restore --locked-mode") == []
    assert reasons("curl -sSL https://x/install.sh | sudo bash") == ["download-piped-to-shell"]
    assert reasons("CGO_ENABLED=0 /usr/bin/pip3 install requests") == ["pip-install-unhashed"]
