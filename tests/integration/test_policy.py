"""The policy engine: loading (with file:line errors), every rule kind, modes, outputs, VSA, init, test, copy."""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path

import httpx
import pytest

from tests import osv_fixture, sbom_fixture
from tests.conftest import run_assay
from tests.integration.conftest import dev_token, push_image


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """app.bin signed by k1 and k2 (two bundles); keys k1, k2, k3."""
    (tmp_path / "app.bin").write_bytes(b"release artifact")
    for k in ("k1", "k2", "k3"):
        assert run_assay("keygen", "--output-prefix", k, cwd=tmp_path).code == 0
    assert run_assay("sign-blob", "app.bin", "--key", "k1.key", cwd=tmp_path).code == 0
    assert (
        run_assay("sign-blob", "app.bin", "--key", "k2.key", "--bundle", "app.bin.k2.sigstore.json", cwd=tmp_path).code
        == 0
    )
    return tmp_path


def _attest(work: Path, name: str, predicate: object, ptype: str, key: str = "k1.key") -> None:
    (work / f"{name}.pred.json").write_text(json.dumps(predicate))
    r = run_assay("attest-blob", "app.bin", "--predicate", f"{name}.pred.json", "--type", ptype, "--key", key,
                  "--bundle", f"app.bin.{name}.sigstore.json", cwd=work)  # fmt: skip
    assert r.code == 0, r.err


HEADER = """
apiVersion: assay.dev/v1
kind: Policy
metadata:
  name: release
spec:
  mode: {mode}
  match:
    blobs: ["*.bin"]
  require:
"""


def _policy(work: Path, rules: str, mode: str = "enforce", name: str = "policy.yaml") -> Path:
    return _write(work / name, HEADER.format(mode=mode) + textwrap.indent(textwrap.dedent(rules), "    "))


def _eval(work: Path, *args: str, policy: str = "policy.yaml"):
    return run_assay("policy", "eval", "--policy", policy, "app.bin", *args, cwd=work)


@pytest.mark.parametrize(
    ("body", "line", "reason", "text"),
    [
        (
            "- name: s\n  signature:\n    authorities:\n      keys: [k1.pub]\n      treshold: 1\n",
            14,
            "policy-unknown-key",
            "'treshold'",
        ),
        (
            "- name: s\n  signature:\n    authorities:\n      keyless:\n        - issuer: x\n          subjectRegExp: '(['\n",
            15,
            "policy-regexp-invalid",
            "does not compile",
        ),
        (
            "- name: a\n  attestation:\n    predicateType: custom\n    authorities: {keys: [k1.pub]}\n    conditions:\n      - 'predicate.x =='\n",
            15,
            "policy-cel-invalid",
            "does not compile",
        ),
        (
            "- name: a\n  attestation:\n    predicateType: custom\n    authorities: {keys: [k1.pub]}\n    conditions:\n      - 'predicate.x == 1'\n      - 'build.id == 2'\n",
            16,
            "policy-cel-unknown-variable",
            "'build'",
        ),
        (
            "- name: s\n  signature:\n    authorities:\n      keys: [missing.pub]\n",
            13,
            "policy-key-unreadable",
            "missing.pub",
        ),
        ("- name: s\n  frobnicate: {}\n", 10, "policy-unknown-key", "'frobnicate'"),
        (
            "- name: s\n  signature:\n    authorities:\n      keys: [k1.pub]\n      threshold: 3\n",
            14,
            "policy-invalid",
            "threshold 3",
        ),
    ],
)
def test_bad_policies_are_refused_with_file_and_line(work: Path, body: str, line: int, reason: str, text: str):
    _write(work / "policy.yaml", HEADER.format(mode="enforce") + textwrap.indent(body, "    "))
    r = _eval(work)
    assert r.code == 2, r.out
    assert f"error[{reason}]: policy.yaml:{line}:" in r.err and text in r.err, r.err


def test_malformed_yaml_is_one_line(work: Path):
    (work / "policy.yaml").write_text("apiVersion: assay.dev/v1\nspec: [\n")
    r = _eval(work)
    assert r.code == 2 and r.err.startswith("error[policy-malformed]: policy.yaml:3:")
    assert r.err.count("\n") == 1


def test_unreadable_trust_root_and_schema(work: Path):
    text = (
        HEADER.format(mode="enforce") + "    - name: s\n      signature: {authorities: {keys: [k1.pub]}}\n"
    ).replace("  require:", "  trust:\n    trustedRoot: nowhere.json\n  require:")
    _write(work / "policy.yaml", text)
    r = _eval(work)
    assert r.code == 2 and "error[policy-trust-root-unreadable]: policy.yaml:10:" in r.err
    from jsonschema import Draft202012Validator

    schema = json.loads(run_assay("policy", "schema").out)
    Draft202012Validator.check_schema(schema)
    import yaml

    good = yaml.safe_load(text)
    assert not list(Draft202012Validator(schema).iter_errors(good))
    good["spec"]["extra"] = 1
    assert list(Draft202012Validator(schema).iter_errors(good))


def test_signature_threshold_and_reported_values(work: Path):
    _policy(work, """
        - name: two-of-three
          signature:
            authorities:
              keys: [k1.pub, k2.pub, k3.pub]
              threshold: 2
    """)  # fmt: skip
    ok = _eval(work, "-o", "json")
    assert ok.code == 0, ok.err
    assert json.loads(ok.out)["evaluations"][0]["rules"][0]["status"] == "pass"
    (work / "app.bin.k2.sigstore.json").unlink()
    bad = _eval(work, "-o", "json")
    assert bad.code == 1 and "error[threshold-not-met]" in bad.err
    rule = json.loads(bad.out)["evaluations"][0]["rules"][0]
    assert rule["checks"][0] == {"what": "distinct keys verified", "expected": ">= 2", "found": "1 (k1.pub)"}
    # the same bundle counted twice is still one key
    bad2 = run_assay("policy", "eval", "--policy", "policy.yaml", "app.bin", "--bundle", "app.bin.sigstore.json",
                     "--bundle", "app.bin.sigstore.json", cwd=work)  # fmt: skip
    assert bad2.code == 1
    table = _eval(work)
    assert "two-of-three" in table.out and "threshold-not-met" in table.out and "=> FAIL" in table.out
    (work / "app.bin").write_bytes(b"tampered")
    tampered = _eval(work, "-o", "json")
    assert tampered.code == 1
    assert json.loads(tampered.out)["evaluations"][0]["rules"][0]["reason"] == "threshold-not-met"


def test_attestation_conditions_age_modes_and_outputs(work: Path):
    _attest(work, "prov", {"runDetails": {"builder": {"id": "https://ci.example/b"}, "metadata": {"finishedOn": "2026-11-20T00:00:00Z"}}, "buildDefinition": {}}, "slsaprovenance1")  # fmt: skip
    rules = """
        - name: built-by-ci
          attestation:
            predicateType: slsaprovenance1
            authorities: {keys: [k1.pub]}
            conditions:
              - predicate.runDetails.builder.id == "{builder}"
              - predicateType.startsWith("https://slsa.dev/")
    """
    _policy(work, rules.replace("{builder}", "https://ci.example/b"))
    ok = _eval(work)
    assert ok.code == 0, ok.out + ok.err
    _policy(work, rules.replace("{builder}", "https://other"))
    bad = _eval(work, "-o", "json")
    assert bad.code == 1
    rule = json.loads(bad.out)["evaluations"][0]["rules"][0]
    assert rule["reason"] == "condition-failed"
    assert rule["checks"][-1] == {
        "what": "condition",
        "expected": 'predicate.runDetails.builder.id == "https://other"',
        "found": "false",
    }
    # warn and audit modes report and exit 0
    _policy(work, rules.replace("{builder}", "https://other"), mode="warn")
    warn = _eval(work)
    assert warn.code == 0 and "warning[policy-would-fail]" in warn.err and "would have failed" in warn.out
    _policy(work, rules.replace("{builder}", "https://other"), mode="audit")
    assert _eval(work).code == 0
    # sarif
    _policy(work, rules.replace("{builder}", "https://other"))
    sarif = json.loads(_eval(work, "-o", "sarif").out)
    res = sarif["runs"][0]["results"][0]
    assert res["ruleId"] == "release/built-by-ci" and res["level"] == "error"
    assert res["locations"][1]["physicalLocation"]["region"]["startLine"] == 11  # the rule's line
    # a missing attestation type
    _policy(work, """
        - name: needs-sbom
          sbom: {authorities: {keys: [k1.pub]}}
    """)  # fmt: skip
    miss = _eval(work, "-o", "json")
    assert miss.code == 1 and json.loads(miss.out)["evaluations"][0]["rules"][0]["reason"] == "attestation-missing"


def test_sbom_and_vulnerability_rules(work: Path):
    sbom_fixture.write(work / "root")
    osv_fixture.write(work / "osv")
    assert run_assay("sbom", "root", "--out", "bom.json", cwd=work).code == 0
    assert run_assay("vulndb", "import", "osv", "--db", "db", cwd=work).code == 0
    assert run_assay("scan", "root", "--db", "db", "-o", "predicate", "--out", "vulns.json", cwd=work).code == 0
    _attest(work, "sbom", json.loads((work / "bom.json").read_text()), "cyclonedx")
    _attest(work, "vulns", json.loads((work / "vulns.json").read_text()), "vuln")
    rules = """
        - name: has-sbom
          sbom: {authorities: {keys: [k1.pub]}}
        - name: no-criticals
          vulnerabilities:
            authorities: {keys: [k1.pub]}
            maxAge: 24h
            failOn: critical
            allow:
              - {id: TEST-PY-1, expires: "2099-01-01"}
              - {id: TEST-NPM-1, expires: "2099-01-01"}
              - {id: TEST-GO-2, expires: "{expiry}"}
    """
    _policy(work, rules.replace("{expiry}", "2099-01-01"))
    ok = _eval(work, "-o", "json")
    assert ok.code == 0, ok.out
    _policy(work, rules.replace("{expiry}", "2020-01-01"))  # an expired exception no longer allows
    bad = _eval(work, "-o", "json")
    assert bad.code == 1
    rule = json.loads(bad.out)["evaluations"][0]["rules"][1]
    assert rule["reason"] == "vulnerability-found" and "TEST-GO-2 (critical)" in rule["message"]
    # the scan's own finish time decides its age (deterministic with policy test's `now`)
    (work / "cases").mkdir()
    _write(work / "cases" / "old.yaml", """
        name: stale scan
        target: ../app.bin
        now: "2099-01-01T00:00:00Z"
        expect:
          result: fail
          rules:
            has-sbom: pass
            no-criticals: "fail: attestation-too-old"
    """)  # fmt: skip
    _policy(work, rules.replace("{expiry}", "2099-01-01"))
    r = run_assay("policy", "test", ".", cwd=work)
    assert r.code == 0 and "1 passed, 0 failed" in r.out, r.out
    # a broken SBOM predicate fails the sbom rule
    _attest(work, "sbom", {"hello": "world"}, "cyclonedx")
    broken = _eval(work, "-o", "json")
    assert json.loads(broken.out)["evaluations"][0]["rules"][0]["reason"] == "sbom-malformed"


def test_policy_test_reports_disagreements(work: Path):
    _policy(work, """
        - name: signed
          signature: {authorities: {keys: [k1.pub]}}
    """)  # fmt: skip
    (work / "cases").mkdir()
    _write(work / "cases" / "a.yaml", "target: ../app.bin\nexpect:\n  result: pass\n  rules: {signed: pass}\n")
    _write(
        work / "cases" / "b.yaml",
        "name: wrong expectation\ntarget: ../app.bin\nbundles: []\nexpect:\n  rules: {signed: pass}\n",
    )
    r = run_assay("policy", "test", ".", cwd=work)
    assert r.code == 1 and "1 passed, 1 failed" in r.out
    assert "rule signed: expected pass, got fail:no-signatures" in r.out
    _write(work / "cases" / "c.yaml", "target: ../app.bin\nexpect: {}\nbogus: 1\n")
    assert run_assay("policy", "test", ".", cwd=work).code == 2


def test_glob_that_matches_nothing_warns(work: Path):
    text = HEADER.format(mode="enforce").replace('blobs: ["*.bin"]', 'blobs: ["*.bin", "dist/*.tar.gz"]')
    _write(work / "policy.yaml", text + "    - name: s\n      signature: {authorities: {keys: [k1.pub]}}\n")
    r = _eval(work)
    assert r.code == 0 and "warning[glob-matches-nothing]" in r.err and "dist/*.tar.gz" in r.err
    (work / "other.txt").write_text("x")
    na = run_assay("policy", "eval", "--policy", "policy.yaml", "other.txt", "-o", "json", cwd=work)
    assert na.code == 0 and json.loads(na.out)["evaluations"][0]["result"] == "not-applicable"


def test_signed_vsa_from_policy_eval(work: Path):
    _policy(work, "- name: s\n  signature: {authorities: {keys: [k1.pub]}}\n")
    r = _eval(work, "--vsa-out", "vsa.json", "--vsa-key", "k3.key")
    assert r.code == 0, r.err
    ok = run_assay(
        "verify-blob-attestation", "app.bin", "--bundle", "vsa.json", "--key", "k3.pub", "--type", "slsavsa1", cwd=work
    )
    assert ok.code == 0, ok.err
    pred = json.loads(base64.b64decode(json.loads((work / "vsa.json").read_text())["dsseEnvelope"]["payload"]))[
        "predicate"
    ]
    import hashlib

    assert pred["policy"]["digest"]["sha256"] == hashlib.sha256((work / "policy.yaml").read_bytes()).hexdigest()
    assert pred["verificationResult"] == "PASSED"
    assert pred["inputAttestations"][0]["uri"] == "app.bin.sigstore.json"


def test_keyless_claims_init_template_and_copy(work: Path, dev_server, registry):
    (work / "root.json").write_bytes(httpx.get(dev_server.url + "/api/v1/trustedRoot").content)
    token = dev_token(dev_server, "github", repository="acme/app", ref="refs/heads/main")
    assert run_assay("sign-blob", "app.bin", "--identity-token", token, "--server", dev_server.url,
                     "--bundle", "app.bin.ci.sigstore.json", cwd=work).code == 0  # fmt: skip
    issuer = dev_server.url + "/dev/oidc/github"
    wf = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
    rules = f"""
        - name: ci
          signature:
            authorities:
              keyless:
                - issuer: {issuer}
                  subject: {wf}
                  claims:
                    sourceRepository: https://github.com/acme/app
                    sourceRef: "{{ref}}"
                    runnerEnvironment: github-hosted
                    buildSigner: {wf}
                    certIssuer: {issuer}
    """
    text = HEADER.format(mode="enforce").replace("  require:", "  trust: {trustedRoot: root.json}\n  require:")
    _write(
        work / "policy.yaml", text + textwrap.indent(textwrap.dedent(rules.replace("{ref}", "refs/heads/main")), "    ")
    )
    ok = _eval(work, "-o", "json")
    assert ok.code == 0, ok.out + ok.err
    _write(
        work / "policy.yaml",
        text + textwrap.indent(textwrap.dedent(rules.replace("{ref}", "refs/heads/release")), "    "),
    )
    bad = _eval(work, "-o", "json")
    rule = json.loads(bad.out)["evaluations"][0]["rules"][0]
    assert bad.code == 1 and rule["reason"] == "claim-mismatch"
    assert {"what": "sourceRef", "expected": "refs/heads/release", "found": "refs/heads/main"} in rule["checks"]

    # the artifact-security template: Minder's rule set, loadable as is
    r = run_assay("policy", "init", "artifact-security", "--repository", "https://github.com/acme/app", "--branch", "main",
                  "--workflow", ".github/workflows/release.yml", "--tag-regexp", "v.*", "--out", "tmpl.yaml", cwd=work)  # fmt: skip
    assert r.code == 0, r.err
    import yaml

    tmpl = yaml.safe_load((work / "tmpl.yaml").read_text())
    who = tmpl["spec"]["require"][0]["signature"]["authorities"]["keyless"][0]
    assert who["claims"]["runnerEnvironment"] == "github-hosted" and who["claims"]["sourceRef"] == "refs/heads/main"
    assert who["subject"] == wf and tmpl["spec"]["match"]["tagRegExp"] == "v.*"
    from assay.service.policy import load_policy

    assert load_policy(str(work / "tmpl.yaml")).tag_re is not None

    # copy --policy: promotion only when the policy passes
    push_image(registry.host, "low/app", "v1", b"image")
    assert run_assay("sign", f"{registry.host}/low/app:v1", "--key", "k1.key", "--insecure", cwd=work).code == 0
    push_image(registry.host, "low/bad", "v1", b"unsigned")
    text = HEADER.format(mode="enforce").replace('blobs: ["*.bin"]', f'images: ["{registry.host}/low/**"]')
    _write(work / "img.yaml", text + "    - name: s\n      signature: {authorities: {keys: [k1.pub]}}\n")
    ok = run_assay(
        "copy",
        f"{registry.host}/low/app:v1",
        f"{registry.host}/high/app:v1",
        "--policy",
        "img.yaml",
        "--insecure",
        cwd=work,
    )
    assert ok.code == 0, ok.err
    bad = run_assay(
        "copy",
        f"{registry.host}/low/bad:v1",
        f"{registry.host}/high/bad:v1",
        "--policy",
        "img.yaml",
        "--insecure",
        cwd=work,
    )
    assert bad.code == 1 and "error[no-signatures]" in bad.err
    assert httpx.get(f"http://{registry.host}/v2/high/bad/tags/list").status_code == 404
    image_eval = run_assay(
        "policy", "eval", "--policy", "img.yaml", f"{registry.host}/high/app:v1", "--insecure", cwd=work
    )
    assert image_eval.code == 0, image_eval.out + image_eval.err
