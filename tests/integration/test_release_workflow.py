"""The seeds' release workflow, with `cosign` replaced by `assay`, run as shell scripts (issue 28, item 4).

The release job runs in a GitHub-Actions-shaped environment: the GITHUB_* variables and the runner's ID-token
endpoint (tests/integration/ci_env.py), served tokens by a ``--dev`` server whose GitHub-shaped issuer claims
GitHub's own issuer URL (``--dev-github-issuer``), so the download side's verify command is the seed's, flag for
flag, with only the server flag added.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ASSAY, require_tool
from tests.integration.ci_env import github_token_endpoint
from tests.integration.conftest import ServerProcess

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"

RELEASE_JOB = """\
set -euo pipefail
sha256sum myapp-* > checksums.txt
assay sign-blob --yes --output-signature checksums.txt.sig checksums.txt --server "$ASSAY_SERVER"
"""

VERIFY_DOWNLOAD = """\
set -euo pipefail
assay verify-blob \\
  --certificate-identity-regexp "https://github.com/myorg/.*" \\
  --certificate-oidc-issuer https://token.actions.githubusercontent.com \\
  --signature checksums.txt.sig \\
  checksums.txt --server "$ASSAY_SERVER"
{check}
"""
SHA256SUM_CHECK = "sha256sum -c checksums.txt --ignore-missing"
ASSAY_CHECK = "assay checksums verify checksums.txt --ignore-missing"

CLEAN = ("ASSAY_ID_TOKEN", "ASSAY_IDENTITY_TOKEN", "SIGSTORE_ID_TOKEN", "GITLAB_CI", "BUILDKITE", "CIRCLECI")


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("release") / "data", None, extra=["--dev", "--dev-github-issuer", GITHUB_ISSUER]
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


def _sh(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    bash = require_tool("bash")
    require_tool("sha256sum")
    full = {k: v for k, v in os.environ.items() if k not in CLEAN}
    full["PATH"] = f"{ASSAY.parent}{os.pathsep}{full.get('PATH', '')}"
    full.update(env)
    return subprocess.run([bash, "-c", script], cwd=cwd, env=full, capture_output=True, text=True, timeout=180)


def _release(dev: ServerProcess, tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    dist.mkdir()
    for arch in ("linux-amd64", "linux-arm64", "darwin-arm64"):
        (dist / f"myapp-{arch}").write_bytes(os.urandom(4096))
    with github_token_endpoint(dev) as ep:
        job = _sh(RELEASE_JOB, dist, {**ep.env(), "ASSAY_SERVER": dev.url})
    assert job.returncode == 0, job.stdout + job.stderr
    assert "using the identity token from GitHub Actions" in job.stderr
    assert len(ep.requests) == 1
    assert sorted(p.name for p in dist.iterdir() if not p.name.startswith("myapp-")) == [
        "checksums.txt",
        "checksums.txt.sig",
    ]
    return dist


@pytest.mark.parametrize("check", [SHA256SUM_CHECK, ASSAY_CHECK], ids=["sha256sum", "assay-checksums"])
def test_release_then_verify_download(dev: ServerProcess, tmp_path: Path, check: str) -> None:
    dist = _release(dev, tmp_path)
    download = tmp_path / "download"
    download.mkdir()
    for name in ("checksums.txt", "checksums.txt.sig", "myapp-linux-amd64"):  # a user downloads one binary
        (download / name).write_bytes((dist / name).read_bytes())
    ok = _sh(VERIFY_DOWNLOAD.format(check=check), download, {"ASSAY_SERVER": dev.url})
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "myapp-linux-amd64: OK" in ok.stdout + ok.stderr

    tampered = download / "myapp-linux-amd64"
    tampered.write_bytes(tampered.read_bytes()[:-1] + b"\x00")
    bad = _sh(VERIFY_DOWNLOAD.format(check=check), download, {"ASSAY_SERVER": dev.url})
    assert bad.returncode != 0, bad.stdout + bad.stderr
    assert "FAILED" in bad.stdout + bad.stderr or "mismatch" in (bad.stdout + bad.stderr).lower()


def test_tampered_checksums_or_other_identity_fail_the_verify_step(dev: ServerProcess, tmp_path: Path) -> None:
    dist = _release(dev, tmp_path)
    wrong_org = VERIFY_DOWNLOAD.replace("https://github.com/myorg/", "https://github.com/otherorg/").format(
        check="true"
    )
    r = _sh(wrong_org, dist, {"ASSAY_SERVER": dev.url})
    assert r.returncode == 1 and "identity" in r.stderr, r.stderr
    sums = dist / "checksums.txt"
    sums.write_text(sums.read_text().replace("myapp-linux-amd64", "myapp-linux-amd6x"))
    r2 = _sh(VERIFY_DOWNLOAD.format(check="true"), dist, {"ASSAY_SERVER": dev.url})
    assert r2.returncode == 1 and "error[tlog-entry-not-found]" in r2.stderr, r2.stderr


def test_dev_github_issuer_needs_dev(tmp_path: Path) -> None:
    r = subprocess.run(
        [str(ASSAY), "server", "--dev-github-issuer", GITHUB_ISSUER, "--data-dir", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and "error[usage]" in r.stderr
