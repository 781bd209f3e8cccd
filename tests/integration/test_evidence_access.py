"""Project isolation of the evidence store and the repository: a publisher of A cannot write into B (which,
members-only and without a role for them, does not exist for them: 404 ``unknown-project``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_assay
from tests.integration.accesskit import ProjectServer, audit_rows, project_server, release_policy

A, B = "team-a", "team-b"
CI = "ci@team-a.test"


@pytest.fixture
def two(tmp_path: Path, database: str | None) -> Iterator[ProjectServer]:
    """Projects A (``ci@team-a.test`` is its publisher) and B (set up so that a publish WOULD pass its policy)."""
    ps = project_server(tmp_path, database, A, CI)
    try:
        assert run_assay("keygen", "--output-prefix", "release", cwd=tmp_path).code == 0
        (tmp_path / "app.bin").write_bytes(b"built by team a")
        assert run_assay("sign-blob", "app.bin", "--key", "release.key", cwd=tmp_path).code == 0
        pem = (tmp_path / "release.pub").read_text()
        ps.admin.ok("POST", "/api/v1/projects", {"name": B})
        ps.admin.ok("PUT", f"/api/v1/projects/{B}/trust", {"keys": [pem]})
        ps.admin.ok(
            "PUT",
            f"/api/v1/projects/{B}/repository/policy",
            {"policy": release_policy("release.pub"), "files": {"release.pub": pem}},
        )
        yield ps
    finally:
        ps.srv.stop()


def _refusals(ps: ProjectServer, action: str) -> list[dict]:
    return [r for r in audit_rows(ps.admin) if r["action"] == action and r["result"].startswith("refused")]


def test_publisher_of_a_cannot_upload_evidence_to_b(two: ProjectServer, tmp_path: Path):
    ps, bundle = two, (tmp_path / "app.bin.sigstore.json").read_bytes()
    for params in ({}, {"accept": "unverified"}):
        r = ps.publisher("POST", f"/api/v1/projects/{B}/evidence", content=bundle, params=params)
        assert r.status_code == 404 and r.json()["reason"] == "unknown-project", r.text
    rows = _refusals(ps, "evidence.write")
    assert len(rows) == 2
    assert all(r["project"] == B and r["result"] == "refused:404:unknown-project" for r in rows)
    assert all(r["actor"].startswith(CI) for r in rows)
    # nothing stored in B, verified or not
    for status in ("verified", "unverified"):
        assert ps.admin.ok("GET", f"/api/v1/projects/{B}/evidence?status={status}")["items"] == []
    digest = "sha256:" + hashlib.sha256(bundle).hexdigest()
    assert ps.admin("GET", f"/api/v1/projects/{B}/evidence/{digest}").status_code == 404
    # the same upload into A (where ci is publisher) is accepted: the refusal was about the project
    r = ps.publisher("POST", f"/api/v1/projects/{A}/evidence", content=bundle, params={"accept": "unverified"})
    assert r.status_code == 201, r.text
    # and through the CLI: exit 2 with the reason
    r = run_assay("evidence", "put", "app.bin.sigstore.json", "--server", ps.url, "--project", B, cwd=tmp_path,
                  env={"ASSAY_TOKEN": str(ps.publisher.bearer)})  # fmt: skip
    assert r.code == 2 and "error[unknown-project]" in r.err, r.err


def test_publisher_of_a_cannot_publish_into_b(two: ProjectServer, tmp_path: Path):
    ps = two
    artifact = (tmp_path / "app.bin").read_bytes()
    # the administrator puts the signature into B: the publish would pass B's policy for a publisher of B
    r = ps.admin("POST", f"/api/v1/projects/{B}/evidence", content=(tmp_path / "app.bin.sigstore.json").read_bytes())
    assert r.status_code == 201, r.text
    before = sorted(p for p in (ps.data_dir / "blobs").rglob("*") if p.is_file() and p.name != ".lock")
    r = ps.publisher("PUT", f"/api/v1/projects/{B}/artifacts/app.bin/1.0", content=artifact)
    assert r.status_code == 404 and r.json()["reason"] == "unknown-project", r.text
    r = run_assay("publish", "app.bin", "--project", B, "--name", "app.bin", "--version", "1.1", "--server", ps.url,
                  cwd=tmp_path, env={"ASSAY_TOKEN": str(ps.publisher.bearer)})  # fmt: skip
    assert r.code == 2 and "error[unknown-project]" in r.err, r.err
    rows = _refusals(ps, "artifact.publish")
    assert [r["result"] for r in rows] == ["refused:404:unknown-project"] * 2
    assert all(r["project"] == B and r["actor"].startswith(CI) for r in rows)
    # nothing stored: no version, no blob, no temporary file
    assert ps.admin("GET", f"/api/v1/projects/{B}/artifacts/app.bin/1.0").status_code == 404
    assert ps.admin.ok("GET", f"/api/v1/projects/{B}/artifacts/app.bin")["versions"] == []
    after = sorted(p for p in (ps.data_dir / "blobs").rglob("*") if p.is_file() and p.name != ".lock")
    assert after == before
    # the same publish as B's administrator succeeds (the setup was not the reason)
    assert ps.admin("PUT", f"/api/v1/projects/{B}/artifacts/app.bin/1.0", content=artifact).status_code == 201
