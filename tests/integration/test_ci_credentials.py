"""Ambient CI credentials: keyless commands find the CI system's ID token themselves (issue 28, item 1).

GitHub Actions is tested against a loopback endpoint that answers as the runner's does, with tokens from the
``--dev`` server's GitHub-shaped issuer; Buildkite and CircleCI through their agent commands (stand-ins on PATH
that print a dev-issuer token, since neither agent can be installed here); GitLab and the generic variables by
environment. Every failure names its source and never falls through to another credential.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_assay
from tests.integration.ci_env import REPO, github_token_endpoint, identity
from tests.integration.conftest import ServerProcess, dev_token

ISSUER_SUFFIX = "/dev/oidc/github"

# Variables a developer's shell or the test runner's CI may carry that would change which source is found.
CLEAN = {
    name: ""
    for name in (
        "ASSAY_ID_TOKEN",
        "ASSAY_IDENTITY_TOKEN",
        "SIGSTORE_ID_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "GITLAB_CI",
        "BUILDKITE",
        "CIRCLECI",
    )
}


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("ci") / "data", None, extra=["--dev"]).start()
    try:
        yield srv
    finally:
        srv.stop()


def _artifact(tmp_path: Path) -> Path:
    f = tmp_path / "checksums.txt"
    f.write_text("0" * 64 + "  myapp-linux-amd64\n")
    return f


def _verify(dev: ServerProcess, f: Path, bundle: Path, ident: str, issuer_suffix: str = ISSUER_SUFFIX):
    return run_assay(
        "verify-blob", str(f), "--bundle", str(bundle), "--server", dev.url,
        "--certificate-identity", ident, "--certificate-oidc-issuer", dev.url + issuer_suffix,
    )  # fmt: skip


def test_github_actions_token_endpoint_is_used(dev: ServerProcess, tmp_path: Path) -> None:
    f = _artifact(tmp_path)
    with github_token_endpoint(dev) as ep:
        r = run_assay("sign-blob", "--yes", str(f), "--server", dev.url, env={**CLEAN, **ep.env()})
    assert r.code == 0, r.err
    assert "using the identity token from GitHub Actions" in r.err
    [req] = ep.requests
    assert req["auth"] == f"bearer {ep.request_token}"
    assert req["query"]["audience"] == ["sigstore"]
    assert req["query"]["api-version"] == ["2.0"]  # the URL's own query is kept
    v = _verify(dev, f, Path(str(f) + ".sigstore.json"), identity())
    assert v.code == 0, v.err


def test_every_keyless_command_finds_it(dev: ServerProcess, tmp_path: Path) -> None:
    f = _artifact(tmp_path)
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"buildType": "test"}))
    with github_token_endpoint(dev) as ep:
        env = {**CLEAN, **ep.env()}
        att = run_assay(
            "attest-blob", str(f), "--predicate", str(pred), "--type", "https://example.com/t", "--server", dev.url,
            "--bundle", str(tmp_path / "att.json"), "--yes", env=env,
        )  # fmt: skip
        assert att.code == 0, att.err
        out = tmp_path / "sums.txt"
        cs = run_assay(
            "checksums", "create", str(f), "--out", str(out), "--server", dev.url,
            "--bundle", str(tmp_path / "sums.json"), "--yes", env=env,
        )  # fmt: skip
        assert cs.code == 0, cs.err
    assert len(ep.requests) == 2
    assert "GitHub Actions" in att.err and "GitHub Actions" in cs.err
    v = _verify(dev, out, tmp_path / "sums.json", identity())
    assert v.code == 0, v.err


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("http-500", "ci-token-unavailable"),
        ("slow", "ci-token-unavailable"),
        ("no-value", "ci-token-unavailable"),
        ("wrong-audience", "ci-token-audience"),
    ],
)
def test_a_broken_endpoint_is_an_error_not_a_fallback(
    dev: ServerProcess, tmp_path: Path, mode: str, reason: str
) -> None:
    f = _artifact(tmp_path)
    fallback = dev_token(dev)  # a working token in the generic variable must NOT be used instead
    with github_token_endpoint(dev, mode) as ep:
        env = {**CLEAN, **ep.env(), "SIGSTORE_ID_TOKEN": fallback, "ASSAY_CI_TOKEN_TIMEOUT": "1"}
        r = run_assay("sign-blob", str(f), "--server", dev.url, env=env)
    assert r.code == 2, r.err
    assert f"error[{reason}]" in r.err
    assert "GitHub Actions" in r.err
    assert not Path(str(f) + ".sigstore.json").exists()


def test_half_configured_github_names_the_missing_variable(dev: ServerProcess, tmp_path: Path) -> None:
    env = {**CLEAN, "ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/x"}
    r = run_assay("sign-blob", str(_artifact(tmp_path)), "--server", dev.url, env=env)
    assert r.code == 2 and "error[ci-token-unavailable]" in r.err
    assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN" in r.err and "id-token: write" in r.err


def test_nothing_present_names_every_place_looked(dev: ServerProcess, tmp_path: Path) -> None:
    r = run_assay("sign-blob", str(_artifact(tmp_path)), "--server", dev.url, env=CLEAN)
    assert r.code == 2 and "error[no-identity-token]" in r.err
    for where in ("ASSAY_ID_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL", "GITLAB_CI", "buildkite-agent", "circleci"):
        assert where in r.err


def test_gitlab_and_generic_variables(dev: ServerProcess, tmp_path: Path) -> None:
    f = _artifact(tmp_path)
    token = dev_token(dev, email="ci@example.com")
    gl = run_assay(
        "sign-blob", str(f), "--server", dev.url, env={**CLEAN, "GITLAB_CI": "true", "SIGSTORE_ID_TOKEN": token}
    )
    assert gl.code == 0 and "from GitLab CI" in gl.err, gl.err
    generic = run_assay("sign-blob", str(f), "--server", dev.url, env={**CLEAN, "SIGSTORE_ID_TOKEN": token})
    assert generic.code == 0 and "from SIGSTORE_ID_TOKEN" in generic.err, generic.err
    mine = run_assay("sign-blob", str(f), "--server", dev.url, env={**CLEAN, "ASSAY_ID_TOKEN": token})
    assert mine.code == 0 and "from ASSAY_ID_TOKEN" in mine.err, mine.err
    v = _verify(dev, f, Path(str(f) + ".sigstore.json"), "ci@example.com", "/dev/oidc")
    assert v.code == 0, v.err
    bad = run_assay("sign-blob", str(f), "--server", dev.url, env={**CLEAN, "SIGSTORE_ID_TOKEN": "not-a-jwt"})
    assert bad.code == 2 and "error[identity-token-malformed]" in bad.err


def _agent(bin_dir: Path, name: str, token: str, log: Path, code: int = 0) -> None:
    """A stand-in for a CI agent's CLI: records its argv and prints the token (or fails)."""
    script = bin_dir / name
    script.write_text(
        f'#!/bin/sh\necho "$@" >> {log}\n'
        + (f"echo agent failure >&2\nexit {code}\n" if code else f"printf '%s\\n' '{token}'\n")
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize(
    ("system", "marker", "agent", "argv"),
    [
        ("Buildkite", "BUILDKITE", "buildkite-agent", "oidc request-token --audience sigstore"),
        ("CircleCI", "CIRCLECI", "circleci", 'run oidc get --claims {"aud": "sigstore"}'),
    ],
)
def test_agent_commands(dev: ServerProcess, tmp_path: Path, system: str, marker: str, agent: str, argv: str) -> None:
    f = _artifact(tmp_path)
    bin_dir, log = tmp_path / "bin", tmp_path / "argv.log"
    bin_dir.mkdir()
    _agent(bin_dir, agent, dev_token(dev, "github", repository=REPO), log)
    env = {**CLEAN, marker: "true", "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    r = run_assay("sign-blob", str(f), "--server", dev.url, env=env)
    assert r.code == 0 and f"from {system}" in r.err, r.err
    assert log.read_text().strip() == argv
    _agent(bin_dir, agent, "", log, code=3)
    bad = run_assay("sign-blob", str(f), "--server", dev.url, env=env)
    assert bad.code == 2 and "error[ci-token-unavailable]" in bad.err and system in bad.err
    missing = run_assay("sign-blob", str(f), "--server", dev.url, env={**CLEAN, marker: "true", "PATH": "/nonexistent"})
    assert missing.code == 2 and "error[ci-token-unavailable]" in missing.err and "not installed" in missing.err
