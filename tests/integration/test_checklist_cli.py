import json
from pathlib import Path

from tests.conftest import run_assay

D = "sha256:" + "d" * 64


def test_repo_pass_json(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM debian@{D} AS b\nRUN apt-get install -y curl=7.1\nFROM b\n")
    (tmp_path / "go.mod").write_text("module x\n")
    (tmp_path / "go.sum").write_text("")
    r = run_assay("checklist", "--repo", str(tmp_path), "-o", "json")
    assert r.code == 0, r.err
    rows = {x["item"]: x["status"] for x in json.loads(r.out)["rows"]}
    assert rows == {"base-images-pinned": "pass", "dependencies-locked": "pass"}


def test_repo_fail_table(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM debian\n")
    (tmp_path / "Cargo.toml").write_text("")
    r = run_assay("checklist", "--repo", str(tmp_path))
    assert r.code == 1
    assert "FROM debian" in r.out and "lockfile-missing" in r.out


def test_unparseable_dockerfile_exit_2(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM a b c d\n")
    r = run_assay("checklist", "--repo", str(tmp_path))
    assert r.code == 2 and "dockerfile-unparseable" in r.err


def test_sarif_and_registry_unknown(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM debian\n")
    r = run_assay("checklist", "--repo", str(tmp_path), "--registry", "127.0.0.1:5000", "-o", "sarif")
    doc = json.loads(r.out)
    assert doc["version"] == "2.1.0"
    assert [x["ruleId"] for x in doc["runs"][0]["results"]] == ["base-images-pinned"]
    r = run_assay("checklist", "--registry", "127.0.0.1:5000", "-o", "json")
    assert json.loads(r.out)["rows"][0]["status"] == "unknown"
