"""``assay vulndb import`` and ``assay scan``: matching, outputs, --fail-on, VEX."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import osv_fixture, sbom_fixture
from tests.conftest import run_assay

EXPECTED = {
    ("TEST-PY-1", "requests", "critical"),
    ("TEST-PY-3", "urllib3", "medium"),
    ("TEST-NPM-1", "@scope/util", "critical"),
    ("TEST-NPM-2", "left-pad", "low"),
    ("TEST-DEB-1", "libgcc-s1", "medium"),
    ("TEST-DEB-4", "tzdata", "unknown"),
    ("TEST-APK-1", "musl", "unknown"),
    ("TEST-GO-1", "golang.org/x/text", "unknown"),
    ("TEST-GO-2", "stdlib", "critical"),
}


@pytest.fixture
def env(tmp_path: Path) -> Path:
    osv_fixture.write(tmp_path / "osv")
    sbom_fixture.write(tmp_path / "root")
    r = run_assay("vulndb", "import", "osv", "--db", "db", cwd=tmp_path)
    assert r.code == 0, r.err
    assert "imported 12 record(s), 1 withdrawn" in r.out
    return tmp_path


def _scan(env: Path, *args: str):
    return run_assay("scan", *args, "--db", "db", cwd=env)


def test_matches_with_ecosystem_ordering(env: Path):
    r = _scan(env, "root", "-o", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert {(f["id"], f["package"], f["severity"]) for f in doc["findings"]} == EXPECTED
    assert sum(f["id"] == "TEST-NPM-2" for f in doc["findings"]) == 2  # lock file and node_modules
    req = next(f for f in doc["findings"] if f["id"] == "TEST-PY-1")
    assert req["score"] == 9.8 and req["fixedIn"] == ["2.32.4rc1"]
    # the same result through an SBOM file, in both formats
    for fmt in ("cyclonedx-json", "spdx-json"):
        assert run_assay("sbom", "root", "--format", fmt, "--out", f"{fmt}.json", cwd=env).code == 0
        via = json.loads(_scan(env, f"{fmt}.json", "-o", "json").out)
        assert {(f["id"], f["package"], f["severity"]) for f in via["findings"]} == EXPECTED


def test_table_sarif_predicate(env: Path):
    table = _scan(env, "root")
    assert table.code == 0 and "TEST-GO-2" in table.out and "finding(s)" in table.out
    sarif = json.loads(_scan(env, "root", "-o", "sarif").out)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {e[0] for e in EXPECTED}
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["TEST-PY-1"] == "error" and levels["TEST-NPM-2"] == "note"
    pred = json.loads(_scan(env, "root", "-o", "predicate").out)
    ids = {r["id"] for r in pred["scanner"]["result"]}
    assert ids == {e[0] for e in EXPECTED}
    crit = next(r for r in pred["scanner"]["result"] if r["id"] == "TEST-GO-2")
    assert crit["severity"] == [{"method": "CVSS", "score": 9.8}]
    assert pred["metadata"]["scanStartedOn"] <= pred["metadata"]["scanFinishedOn"]


def test_fail_on_and_vex(env: Path):
    r = _scan(env, "root", "--fail-on", "critical")
    assert r.code == 1 and "error[vulnerabilities-found]: 3 finding(s) at or above critical" in r.err
    vex = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "vulnerabilities": [
            {"id": "TEST-PY-1", "analysis": {"state": "not_affected", "justification": "code_not_reachable"},
             "affects": [{"ref": "pkg:pypi/requests@2.32.3"}]},
            {"id": "TEST-NPM-1", "analysis": {"state": "not_affected"}, "affects": [{"ref": "pkg:npm/%40scope/util@2.0.0"}]},
            {"id": "TEST-GO-2", "analysis": {"state": "exploitable"}, "affects": [{"ref": "pkg:golang/stdlib@1.22.4"}]},
        ],
    }  # fmt: skip
    (env / "vex.json").write_text(json.dumps(vex))
    r = _scan(env, "root", "--fail-on", "critical", "--vex", "vex.json", "-o", "json")
    assert r.code == 1, "TEST-GO-2 is exploitable, not suppressed"
    doc = json.loads(r.out)
    assert {s["id"] for s in doc["suppressed"]} == {"TEST-PY-1", "TEST-NPM-1"}
    assert "error[vulnerabilities-found]: 1 finding(s)" in r.err
    vex["vulnerabilities"][2]["analysis"]["state"] = "not_affected"
    (env / "vex.json").write_text(json.dumps(vex))
    assert _scan(env, "root", "--fail-on", "critical", "--vex", "vex.json").code == 0
    assert _scan(env, "root", "--fail-on", "high", "--vex", "vex.json").code == 0
    assert _scan(env, "root", "--fail-on", "medium", "--vex", "vex.json").code == 1


def test_newer_records_replace_older_and_bad_input(env: Path):
    newer = osv_fixture.records()[1]
    newer["modified"] = "2026-06-01T00:00:00Z"
    newer["affected"][0]["ranges"][0]["events"][1]["fixed"] = "3.0.4"  # now flask 3.0.3 is affected
    (env / "upd.json").write_text(json.dumps(newer))
    assert run_assay("vulndb", "import", "upd.json", "--db", "db", cwd=env).code == 0
    doc = json.loads(_scan(env, "root", "-o", "json").out)
    assert "TEST-PY-2" in {f["id"] for f in doc["findings"]}
    older = dict(newer, modified="2020-01-01T00:00:00Z")
    (env / "old.json").write_text(json.dumps(older))
    assert "1 older than stored" in run_assay("vulndb", "import", "old.json", "--db", "db", cwd=env).out
    (env / "bad.json").write_text('{"no": "id"}')
    bad = run_assay("vulndb", "import", "bad.json", "--db", "db", cwd=env)
    assert bad.code == 2 and "error[osv-malformed]" in bad.err
    missing = run_assay("scan", "root", "--db", "nowhere", cwd=env)
    assert missing.code == 2 and "error[vulndb-missing]" in missing.err
    (env / "junk.json").write_text('{"hello": 1}')
    junk = _scan(env, "junk.json")
    assert junk.code == 2 and "error[sbom-unrecognised]" in junk.err
    (env / "badvex.json").write_text("[]")
    assert _scan(env, "root", "--vex", "badvex.json").code == 2
