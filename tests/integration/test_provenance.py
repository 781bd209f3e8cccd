"""SLSA provenance: generation from CI environments, slsa-verifier-style verification, signed VSAs."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from tests.conftest import run_assay
from tests.integration.conftest import dev_token, push_image

GITHUB_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/app",
    "GITHUB_REF": "refs/heads/main",
    "GITHUB_SHA": "0" * 40,
    "GITHUB_WORKFLOW_REF": "acme/app/.github/workflows/release.yml@refs/heads/main",
    "GITHUB_RUN_ID": "42",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_EVENT_NAME": "push",
    "GITHUB_REPOSITORY_ID": "1000",
    "GITHUB_REPOSITORY_OWNER_ID": "2000",
    "RUNNER_ENVIRONMENT": "github-hosted",
}
CLEAN = {"GITHUB_ACTIONS": "", "GITLAB_CI": ""}
BUILDER = "https://github.com/actions/runner/github-hosted"


def _generate(tmp_path: Path, env: dict[str, str], *extra: str) -> dict:
    r = run_assay("provenance", "generate", "--subject", "app.bin", "--out", "prov.json", *extra, cwd=tmp_path,
                  env={**CLEAN, **env})  # fmt: skip
    assert r.code == 0, r.err
    return json.loads((tmp_path / "prov.json").read_text())


def test_generate_github_gitlab_generic(tmp_path: Path):
    (tmp_path / "app.bin").write_bytes(b"binary")
    gh = _generate(tmp_path, GITHUB_ENV, "--statement-out", "st.json")
    bd = gh["buildDefinition"]
    assert bd["buildType"] == "https://actions.github.io/buildtypes/workflow/v1"
    assert bd["externalParameters"]["workflow"] == {
        "ref": "refs/heads/main",
        "repository": "https://github.com/acme/app",
        "path": ".github/workflows/release.yml",
    }
    assert bd["resolvedDependencies"] == [
        {"uri": "git+https://github.com/acme/app@refs/heads/main", "digest": {"gitCommit": "0" * 40}}
    ]
    assert gh["runDetails"]["builder"]["id"] == BUILDER
    assert gh["runDetails"]["metadata"] == {"invocationId": "https://github.com/acme/app/actions/runs/42/attempts/1"}
    assert "startedOn" not in gh["runDetails"]["metadata"], "GitHub does not state a start time; none is invented"
    st = json.loads((tmp_path / "st.json").read_text())
    assert st["subject"] == [{"name": "app.bin", "digest": {"sha256": hashlib.sha256(b"binary").hexdigest()}}]
    assert st["predicateType"] == "https://slsa.dev/provenance/v1"

    gl = _generate(
        tmp_path,
        {"GITLAB_CI": "true", "CI_SERVER_URL": "https://gitlab.com", "CI_PROJECT_PATH": "g/p",
         "CI_PROJECT_URL": "https://gitlab.com/g/p", "CI_COMMIT_SHA": "a" * 40, "CI_COMMIT_TAG": "v1.0",
         "CI_RUNNER_ID": "7", "CI_JOB_URL": "https://gitlab.com/g/p/-/jobs/9", "CI_JOB_STARTED_AT": "2026-11-01T10:00:00Z",
         "CI_CONFIG_PATH": ".gitlab-ci.yml"},
    )  # fmt: skip
    assert gl["buildDefinition"]["externalParameters"]["source"] == {
        "repository": "https://gitlab.com/g/p",
        "ref": "refs/tags/v1.0",
    }
    assert gl["runDetails"]["builder"]["id"] == "https://gitlab.com/g/p/-/runners/7"
    assert gl["runDetails"]["metadata"]["startedOn"] == "2026-11-01T10:00:00Z"

    no_builder = run_assay("provenance", "generate", "--subject", "app.bin", cwd=tmp_path, env=CLEAN)
    assert no_builder.code == 2 and "error[builder-id-required]" in no_builder.err
    (tmp_path / "requirements.txt").write_text("flask==3.0.3 --hash=sha256:" + "b" * 64 + "\nclick==8.1.7\n")
    (tmp_path / "vendor.tar").write_bytes(b"vendored")
    gen = _generate(
        tmp_path, {}, "--builder-id", "https://ci.example/builder", "--source-uri", "git+https://example.com/r@refs/heads/x",
        "--source-digest", "gitCommit:" + "c" * 40, "--material", "vendor.tar", "--material", "https://x/y.tgz=sha256:" + "d" * 64,
        "--lockfile", "requirements.txt", "--started-on", "2026-11-02T00:00:00Z",
    )  # fmt: skip
    deps = gen["buildDefinition"]["resolvedDependencies"]
    assert deps[0] == {"uri": "git+https://example.com/r@refs/heads/x", "digest": {"gitCommit": "c" * 40}}
    assert {"uri": "vendor.tar", "digest": {"sha256": hashlib.sha256(b"vendored").hexdigest()}} in deps
    assert {"uri": "pkg:pypi/flask@3.0.3", "name": "flask", "digest": {"sha256": "b" * 64}} in deps
    assert {"uri": "pkg:pypi/click@8.1.7", "name": "click"} in deps
    assert gen["runDetails"]["metadata"]["startedOn"] == "2026-11-02T00:00:00Z"
    bad = run_assay(
        "provenance",
        "generate",
        "--subject",
        "app.bin",
        "--builder-id",
        "b",
        "--material",
        "nope",
        cwd=tmp_path,
        env=CLEAN,
    )
    assert bad.code == 2 and "error[material-malformed]" in bad.err


def _keyless_provenance(tmp_path: Path, dev_server, env: dict[str, str]) -> list[str]:
    (tmp_path / "app.bin").write_bytes(b"binary")
    _generate(tmp_path, env)
    token = dev_token(dev_server, "github", repository="acme/app", ref="refs/heads/main")
    r = run_assay("attest-blob", "app.bin", "--predicate", "prov.json", "--type", "slsaprovenance1",
                  "--identity-token", token, "--server", dev_server.url, cwd=tmp_path)  # fmt: skip
    assert r.code == 0, r.err
    return ["verify-provenance", "app.bin", "--server", dev_server.url, "--certificate-oidc-issuer",
            dev_server.url + "/dev/oidc/github", "--certificate-identity-regexp",
            r"https://github\.com/acme/app/\.github/workflows/.+", "-o", "json"]  # fmt: skip


def test_keyless_provenance_and_vsa(tmp_path: Path, dev_server):
    base = _keyless_provenance(tmp_path, dev_server, GITHUB_ENV)
    ok = run_assay(*base, "--source-uri", "github.com/acme/app", "--source-branch", "main", "--builder-id", BUILDER,
                   cwd=tmp_path)  # fmt: skip
    assert ok.code == 0, ok.err
    steps = {s["step"]: s.get("detail", "") for s in json.loads(ok.out)["steps"]}
    assert "certificate agrees" in steps["provenance"]
    wrong_repo = run_assay(*base, "--source-uri", "github.com/acme/other", cwd=tmp_path)
    assert wrong_repo.code == 1 and json.loads(wrong_repo.out)["reason"] == "extension-mismatch"
    wrong_branch = run_assay(*base, "--source-uri", "github.com/acme/app", "--source-branch", "dev", cwd=tmp_path)
    assert wrong_branch.code == 1 and json.loads(wrong_branch.out)["reason"] == "extension-mismatch"
    wrong_builder = run_assay(
        *base, "--source-uri", "github.com/acme/app", "--builder-id", "https://evil", cwd=tmp_path
    )
    assert wrong_builder.code == 1 and json.loads(wrong_builder.out)["reason"] == "provenance-builder-mismatch"
    # a signed VSA about the artifact: PASSED, policy digest, the input attestation's digest
    assert run_assay("keygen", "--output-prefix", "v", cwd=tmp_path).code == 0
    ok = run_assay(*base, "--source-uri", "github.com/acme/app", "--source-branch", "main", "--vsa-out", "vsa.json",
                   "--vsa-key", "v.key", cwd=tmp_path)  # fmt: skip
    assert ok.code == 0, ok.err
    check = run_assay("verify-blob-attestation", "app.bin", "--bundle", "vsa.json", "--key", "v.pub", "--type",
                      "https://slsa.dev/verification_summary/v1", cwd=tmp_path)  # fmt: skip
    assert check.code == 0, check.err
    env = json.loads((tmp_path / "vsa.json").read_text())["dsseEnvelope"]
    pred = json.loads(base64.b64decode(env["payload"]))["predicate"]
    assert pred["verificationResult"] == "PASSED"
    assert pred["verifiedLevels"] == ["SLSA_BUILD_LEVEL_2"]
    bundle_digest = hashlib.sha256((tmp_path / "app.bin.sigstore.json").read_bytes()).hexdigest()
    assert pred["inputAttestations"] == [{"uri": "app.bin.sigstore.json", "digest": {"sha256": bundle_digest}}]
    assert len(pred["policy"]["digest"]["sha256"]) == 64
    # a failed verification writes a FAILED VSA and still exits 1
    bad = run_assay(*base, "--source-uri", "github.com/acme/app", "--builder-id", "x", "--vsa-out", "failed.json",
                    "--vsa-key", "v.key", cwd=tmp_path)  # fmt: skip
    assert bad.code == 1
    env = json.loads((tmp_path / "failed.json").read_text())["dsseEnvelope"]
    assert json.loads(base64.b64decode(env["payload"]))["predicate"]["verificationResult"] == "FAILED"


def test_certificate_and_predicate_must_agree(tmp_path: Path, dev_server):
    base = _keyless_provenance(tmp_path, dev_server, {**GITHUB_ENV, "GITHUB_SHA": "1" * 40})
    r = run_assay(*base, "--source-uri", "github.com/acme/app", "--source-branch", "main", cwd=tmp_path)
    assert r.code == 1 and json.loads(r.out)["reason"] == "provenance-cert-disagrees"


def test_key_signed_provenance_for_an_image(registry, tmp_path: Path):
    digest = push_image(registry.host, "team/built", "v1", b"built image")
    image = f"{registry.host}/team/built:v1"
    assert run_assay("keygen", "--output-prefix", "k", cwd=tmp_path).code == 0
    r = run_assay("provenance", "generate", "--subject", image, "--insecure", "--out", "prov.json",
                  "--statement-out", "st.json", cwd=tmp_path, env={**CLEAN, **GITHUB_ENV})  # fmt: skip
    assert r.code == 0, r.err
    assert json.loads((tmp_path / "st.json").read_text())["subject"][0]["digest"]["sha256"] == digest.split(":")[1]
    assert run_assay("attest", image, "--predicate", "prov.json", "--type", "slsaprovenance1", "--key", "k.key",
                     "--insecure", cwd=tmp_path).code == 0  # fmt: skip
    base = [
        "verify-provenance",
        image,
        "--key",
        "k.pub",
        "--insecure",
        "-o",
        "json",
        "--source-uri",
        "github.com/acme/app",
    ]
    assert run_assay(*base, "--source-branch", "main", "--builder-id", BUILDER, cwd=tmp_path).code == 0
    ref = run_assay(*base, "--source-tag", "v1", cwd=tmp_path)
    assert ref.code == 1 and json.loads(ref.out)["reason"] == "provenance-ref-mismatch"
    src = run_assay(*base[:-1], "github.com/acme/fork", cwd=tmp_path)
    assert src.code == 1 and json.loads(src.out)["reason"] == "provenance-source-mismatch"
    both = run_assay(*base, "--source-branch", "main", "--source-tag", "v1", cwd=tmp_path)
    assert both.code == 2
