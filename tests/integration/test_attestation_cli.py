"""``assay attestation verify``: gh's flags, defaults and exit codes over real published attestations."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import run_assay
from tests.integration.conftest import dev_token, push_image

DATA = Path(__file__).resolve().parents[1] / "data" / "realworld"
NPM_TGZ = str(DATA / "cli" / "sigstore-js-2.1.0.tgz")
NPM_BUNDLE = str(DATA / "cli" / "sigstore-js-2.1.0-bundle.json")
NPM_TWO = str(DATA / "cli" / "sigstore-js-2.1.0_with_2_bundles.jsonl")
GH_WHL = str(DATA / "cli" / "github_provenance_demo-0.0.12-py3-none-any.whl")
GH_BUNDLE = str(DATA / "cli" / "github_provenance_demo-0.0.12-py3-none-any-bundle.jsonl")


def verify(*args: str, cwd: Path | None = None):
    return run_assay("attestation", "verify", *args, cwd=cwd)


def test_npm_provenance_with_gh_defaults() -> None:
    r = verify(NPM_TGZ, "--owner", "sigstore", "--bundle", NPM_BUNDLE)
    assert r.code == 0, r.err
    assert "✓ Verification succeeded!" in r.err
    assert "Source Repository Owner URI must match" in r.err
    header, row = r.out.splitlines()
    assert header.split() == ["REPO", "PREDICATE_TYPE", "WORKFLOW"]
    assert row.split() == [
        "sigstore/sigstore-js",
        "https://slsa.dev/provenance/v1",
        ".github/workflows/release.yml@refs/heads/main",
    ]


def test_github_instance_attestation_by_repo(tmp_path: Path) -> None:
    r = verify(GH_WHL, "--repo", "actions/attest-demo", "--bundle", GH_BUNDLE, "--deny-self-hosted-runners")
    assert r.code == 0, r.err
    assert "actions/attest-demo" in r.out
    # trusting only public good, GitHub's instance is refused
    pg = tmp_path / "pg.json"
    pg.write_bytes((Path(__file__).resolve().parents[2] / "src/assay/data/public-good/trusted_root.json").read_bytes())
    r = verify(GH_WHL, "--repo", "actions/attest-demo", "--bundle", GH_BUNDLE, "--custom-trusted-root", str(pg))
    assert r.code == 1 and "error[timestamp-untrusted]" in r.err


def test_json_lines_and_api_response_and_json_output(tmp_path: Path) -> None:
    r = verify(NPM_TGZ, "--owner", "sigstore", "--bundle", NPM_TWO, "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert len(doc) == 2
    vr = doc[0]["verificationResult"]
    assert vr["statement"]["subject"][0]["name"] == "pkg:npm/sigstore@2.1.0"
    assert vr["signature"]["certificate"]["sourceRepositoryOwnerURI"] == "https://github.com/sigstore"
    assert vr["verifiedTimestamps"][0]["type"] == "Tlog"
    # the GitHub API's shape: {"attestations": [{"bundle": ...}, ...]}
    rows = [json.loads(line) for line in Path(NPM_TWO).read_text().splitlines() if line.strip()]
    api = tmp_path / "api.json"
    api.write_text(json.dumps({"attestations": [{"bundle": b, "repository_id": 1} for b in rows]}))
    assert verify(NPM_TGZ, "--repo", "sigstore/sigstore-js", "--bundle", str(api)).code == 0


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (["--owner", "someone-else"], "identity-mismatch"),
        (["--repo", "sigstore/other"], "identity-mismatch"),
        (["--owner", "sigstore", "--source-ref", "refs/heads/evil"], "extension-mismatch"),
        (["--owner", "sigstore", "--source-digest", "0" * 40], "extension-mismatch"),
        (
            ["--owner", "sigstore", "--signer-workflow", "sigstore/sigstore-js/.github/workflows/evil.yml"],
            "identity-mismatch",
        ),
        (["--owner", "sigstore", "--signer-repo", "sigstore/other"], "identity-mismatch"),
        (["--owner", "sigstore", "--cert-identity", "https://github.com/sigstore/x"], "identity-mismatch"),
        (["--owner", "sigstore", "--cert-oidc-issuer", "https://accounts.google.com"], "issuer-mismatch"),
        (["--owner", "sigstore", "--predicate-type", "https://spdx.dev/Document"], "no-matching-predicate-type"),
    ],
)
def test_policy_failures_exit_1(flags: list[str], reason: str) -> None:
    r = verify(NPM_TGZ, "--bundle", NPM_BUNDLE, *flags)
    assert r.code == 1 and f"error[{reason}]" in r.err, r.err


def test_signer_flags_that_hold() -> None:
    wf = "sigstore/sigstore-js/.github/workflows/release.yml"
    assert verify(NPM_TGZ, "--bundle", NPM_BUNDLE, "--owner", "sigstore", "--signer-workflow", wf).code == 0
    assert (
        verify(NPM_TGZ, "--bundle", NPM_BUNDLE, "--owner", "sigstore", "--signer-repo", "sigstore/sigstore-js").code
        == 0
    )
    regex = "^https://github.com/sigstore/sigstore-js/"
    assert verify(NPM_TGZ, "--bundle", NPM_BUNDLE, "--owner", "sigstore", "--cert-identity-regex", regex).code == 0


def test_another_artifact_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "sigstore-2.1.0.tgz"
    other.write_bytes(Path(NPM_TGZ).read_bytes() + b"\0")
    r = verify(str(other), "--owner", "sigstore", "--bundle", NPM_BUNDLE)
    assert r.code == 1 and "error[subject-digest-mismatch]" in r.err
    sha512 = hashlib.sha512(Path(NPM_TGZ).read_bytes()).hexdigest()
    assert verify(f"sha512:{sha512}", "--owner", "sigstore", "--bundle", NPM_BUNDLE).code == 0


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ([NPM_TGZ, "--bundle", NPM_BUNDLE], "usage"),
        ([NPM_TGZ, "--owner", "a", "--repo", "a/b", "--bundle", NPM_BUNDLE], "usage"),
        ([NPM_TGZ, "--repo", "no-slash", "--bundle", NPM_BUNDLE], "usage"),
        ([NPM_TGZ, "--owner", "sigstore"], "bundle-required"),
        ([NPM_TGZ, "--owner", "sigstore", "--bundle", NPM_BUNDLE, "--bundle-from-oci"], "usage"),
        ([NPM_TGZ, "--owner", "sigstore", "--bundle", NPM_TGZ], "malformed-json"),
    ],
)
def test_bad_input_exits_2(args: list[str], reason: str) -> None:
    r = verify(*args)
    assert r.code == 2, r.err
    assert r.err.startswith(f"error[{reason}]") and "Traceback" not in r.err


@pytest.mark.slow
def test_image_with_bundle_from_oci(registry, dev_server, tmp_path: Path) -> None:
    """An attestation attached as an OCI referrer by a GitHub-Actions-shaped keyless identity."""
    digest = push_image(registry.host, "acme/app", "v1", b"image layer")
    image = f"{registry.host}/acme/app@{digest}"
    token = dev_token(dev_server, "github", repository="acme/app", ref="refs/heads/main")
    (tmp_path / "prov.json").write_text(json.dumps({"buildDefinition": {"buildType": "x"}}))
    r = run_assay(
        "attest", image, "--predicate", "prov.json", "--type", "slsaprovenance1",
        "--identity-token", token, "--server", dev_server.url, "--insecure", cwd=tmp_path,
    )  # fmt: skip
    assert r.code == 0, r.err
    cfg = run_assay("trust-config", "--server", dev_server.url)
    assert cfg.code == 0, cfg.err
    (tmp_path / "root.json").write_text(cfg.out)
    issuer = dev_server.url + "/dev/oidc/github"
    base = ["--bundle-from-oci", "--custom-trusted-root", "root.json", "--cert-oidc-issuer", issuer, "--insecure"]
    ok = verify(f"oci://{image}", "--repo", "acme/app", *base, cwd=tmp_path)
    assert ok.code == 0, ok.err
    assert ok.out.splitlines()[1].split()[0] == "acme/app"
    bad = verify(f"oci://{image}", "--owner", "evil", *base, cwd=tmp_path)
    assert bad.code == 1 and "error[identity-mismatch]" in bad.err


def test_pypi_provenance_file() -> None:
    pypi = DATA / "pypi"
    tarball = str(pypi / "pypi_attestations-0.0.19.tar.gz")
    prov = str(pypi / "pypi_attestations-0.0.19.tar.gz.provenance")
    publish = ["--predicate-type", "https://docs.pypi.org/attestations/publish/v1"]
    r = verify(tarball, "--repo", "trailofbits/pypi-attestations", "--bundle", prov, *publish)
    assert r.code == 0, r.err
    assert r.out.splitlines()[1].split()[:2] == ["trailofbits/pypi-attestations", publish[1]]
    # gh's default predicate type (SLSA provenance) is not what PyPI publishes
    r = verify(tarball, "--repo", "trailofbits/pypi-attestations", "--bundle", prov)
    assert r.code == 1 and "error[no-matching-predicate-type]" in r.err


def test_reusable_workflow_needs_the_signer_repo() -> None:
    """Built in malancas/attest-demo, signed by a reusable workflow of github/artifact-attestations-workflows."""
    artifact = str(DATA / "cli" / "reusable-workflow-artifact")
    bundle = str(DATA / "cli" / "reusable-workflow-attestation.sigstore.json")
    r = verify(artifact, "--repo", "malancas/attest-demo", "--bundle", bundle)
    assert r.code == 1 and "error[identity-mismatch]" in r.err  # the SAN is the reusable workflow's
    signer = ["--signer-repo", "github/artifact-attestations-workflows"]
    r = verify(artifact, "--repo", "malancas/attest-demo", "--bundle", bundle, *signer)
    assert r.code == 0, r.err
    assert r.out.splitlines()[1].split()[0] == "malancas/attest-demo"
    r = verify(artifact, "--repo", "someone/attest-demo", "--bundle", bundle, *signer)
    assert r.code == 1 and "error[extension-mismatch]" in r.err
