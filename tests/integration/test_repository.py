"""The verified artifact repository on a real server: policy-gated publish, verified fetch, refusals, crashes."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_assay
from tests.integration.accesskit import Api, ProjectServer, project_server, trust_keys_and_policy
from tests.integration.conftest import ServerProcess

P = "acme"
CI = "ci@acme.test"


def _files(srv: ServerProcess | ProjectServer) -> list[Path]:
    """Blob files and leftovers in temporary directories (lock files excepted)."""
    root = srv.data_dir / "blobs"
    return [p for p in root.rglob("*") if p.is_file() and p.name != ".lock"]


@pytest.fixture
def server(tmp_path: Path, database: str | None) -> Iterator[ProjectServer]:
    """A --dev server with project ``acme``: the administrator sets policy, ``ci@acme.test`` (publisher) publishes."""
    ps = project_server(tmp_path, database, P, CI)
    try:
        yield ps
    finally:
        ps.srv.stop()


@pytest.fixture
def repo(server: ProjectServer, tmp_path: Path) -> Iterator[tuple[ProjectServer, Path]]:
    w = tmp_path
    trust_keys_and_policy(server, w, ("k1", "k2"))
    (w / "app.bin").write_bytes(b"release build 1.0")
    assert run_assay("sign-blob", "app.bin", "--key", "k1.key", cwd=w).code == 0
    yield server, w


def _cli(srv: ProjectServer, w: Path, *args: str, who: Api | None = None):
    """Run the CLI with the publisher's session in ASSAY_TOKEN (or ``who``'s)."""
    return run_assay(*args, "--server", srv.url, cwd=w, env={"ASSAY_TOKEN": str((who or srv.publisher).bearer)})


def test_publish_fetch_immutable_delete(repo):
    srv, w = repo
    r = _cli(srv, w, "publish", "app.bin", "--project", P, "--name", "app.bin", "--version", "1.0",
             "--bundle", "app.bin.sigstore.json")  # fmt: skip
    assert r.code == 0, r.err
    r = _cli(srv, w, "fetch", f"{P}/app.bin@1.0", "--out", "got.bin")
    assert r.code == 0, r.err
    assert (w / "got.bin").read_bytes() == (w / "app.bin").read_bytes()
    resp = httpx.get(f"{srv.url}/api/v1/projects/{P}/artifacts/app.bin/1.0", headers=srv.auth())
    assert resp.headers["x-assay-digest"] == "sha256:" + hashlib.sha256(b"release build 1.0").hexdigest()
    vsa_digest = resp.headers["x-assay-vsa"]

    # the same bytes again: idempotent; other bytes under the same version: refused
    r = _cli(srv, w, "publish", "app.bin", "--project", P, "--name", "app.bin", "--version", "1.0")
    assert r.code == 0, r.err
    (w / "app2.bin").write_bytes(b"release build 1.0, tampered")
    assert run_assay("sign-blob", "app2.bin", "--key", "k1.key", cwd=w).code == 0
    r = _cli(srv, w, "publish", "app2.bin", "--project", P, "--name", "app.bin", "--version", "1.0",
             "--bundle", "app2.bin.sigstore.json")  # fmt: skip
    assert r.code == 2 and "error[version-exists]" in r.err

    # fetch refuses a VSA checked against the wrong key, and writes nothing
    r = _cli(srv, w, "fetch", f"{P}/app.bin@1.0", "--out", "bad.bin", "--vsa-key", "k2.pub")
    assert r.code == 1 and "signature-mismatch" in r.err and not (w / "bad.bin").exists()

    # deleting the version keeps its evidence (the bundle and the VSA)
    # deleting is for administrators: the publisher is refused
    r = _cli(srv, w, "repository", "delete", f"{P}/app.bin@1.0")
    assert r.code == 2 and "error[insufficient-role]" in r.err, r.err
    r = _cli(srv, w, "repository", "delete", f"{P}/app.bin@1.0", who=srv.admin)
    assert r.code == 0, r.err
    assert httpx.get(f"{srv.url}/api/v1/projects/{P}/artifacts/app.bin/1.0", headers=srv.auth()).status_code == 404
    assert httpx.get(f"{srv.url}/api/v1/projects/{P}/evidence/{vsa_digest}", headers=srv.auth()).status_code == 200
    r = _cli(srv, w, "evidence", "search", "--project", P, "--subject",
             "sha256:" + hashlib.sha256(b"release build 1.0").hexdigest(), "--json")  # fmt: skip
    kinds = sorted(line for line in r.out.splitlines())
    assert len(kinds) == 2
    assert _files(srv) == []  # no blob (deleted) and no temporary file (the idempotent re-publish dropped its copy)


def test_refusals_leave_nothing(repo):
    srv, w = repo
    base = f"{srv.url}/api/v1/projects/{P}/artifacts"
    ci = srv.auth(srv.publisher)
    # unsigned: the policy fails, nothing is stored
    (w / "unsigned.bin").write_bytes(b"no evidence")
    r = _cli(srv, w, "publish", "unsigned.bin", "--project", P, "--name", "unsigned.bin", "--version", "1")
    assert r.code == 1 and "error[policy-failed]" in r.err, r.err
    # signed by a key the project trusts but the policy does not
    assert run_assay("sign-blob", "unsigned.bin", "--key", "k2.key", cwd=w).code == 0
    r = _cli(srv, w, "publish", "unsigned.bin", "--project", P, "--name", "unsigned.bin", "--version", "1",
             "--bundle", "unsigned.bin.sigstore.json")  # fmt: skip
    assert r.code == 1 and "error[policy-failed]" in r.err, r.err
    # the declared digest does not match the streamed bytes
    resp = httpx.put(f"{base}/x.bin/1", content=b"abc", headers={**ci, "X-Assay-Digest": "sha256:" + "00" * 32})
    assert resp.status_code == 400 and resp.json()["reason"] == "digest-mismatch"
    # bad names: traversal, NUL, leading dot, absolute
    for name in ("%2E%2E", ".hidden", "a%00b", "..x"):
        resp = httpx.put(f"{base}/{name}/1", content=b"abc", headers=ci)
        assert resp.status_code == 400 and resp.json()["reason"] == "bad-name", (name, resp.text)
    resp = httpx.put(f"{base}/ok.bin/%2E%2E", content=b"abc", headers=ci)
    assert resp.status_code == 400 and resp.json()["reason"] == "bad-name"
    for path in (f"{base}/..%2Fx/1", f"{base}/%2Fetc%2Fpasswd/1"):
        assert 400 <= httpx.put(path, content=b"abc", headers=ci).status_code < 500
    # a policy naming a file outside its directory is refused
    resp = httpx.put(f"{srv.url}/api/v1/projects/{P}/repository/policy",
                     json={"policy": "x", "files": {"../k.pub": "x"}}, headers=srv.auth())  # fmt: skip
    assert resp.status_code == 400 and resp.json()["reason"] == "bad-name"
    resp = httpx.put(f"{srv.url}/api/v1/projects/{P}/repository/policy", json={"policy": "kind: Nope\n"},
                     headers=srv.auth())  # fmt: skip
    assert resp.status_code == 400 and resp.json()["reason"].startswith("policy-")
    assert httpx.get(f"{base}/unsigned.bin/1", headers=ci).status_code == 404
    assert _files(srv) == []


def test_size_limit_and_no_policy(tmp_path: Path, database):
    srv = project_server(tmp_path, database, P, CI, env={"ASSAY_MAX_ARTIFACT_BYTES": "1000"})
    ci = srv.auth(srv.publisher)
    try:
        base = f"{srv.url}/api/v1/projects/{P}/artifacts"
        resp = httpx.put(f"{base}/big.bin/1", content=b"x" * 5000, headers=ci)
        assert resp.status_code == 400 and resp.json()["reason"] == "artifact-too-large"
        resp = httpx.put(f"{base}/small.bin/1", content=b"x" * 10, headers=ci)
        assert resp.status_code == 422 and resp.json()["reason"] == "no-repository-policy"
        assert _files(srv) == []
    finally:
        srv.srv.stop()


@pytest.mark.slow
def test_killed_mid_upload_leaves_nothing_and_processes_share_the_data_dir(repo):
    srv, w = repo
    url = f"{srv.url}/api/v1/projects/{P}/artifacts/big.bin/1"
    ci = srv.auth(srv.publisher)
    sent = threading.Event()

    def body() -> Iterator[bytes]:
        for i in range(200):
            yield b"\x00" * (1 << 20)
            if i == 20:
                sent.set()
                time.sleep(5)

    def upload() -> None:
        try:
            httpx.put(url, content=body(), headers={**ci, "Content-Length": str(200 << 20)}, timeout=30)
        except httpx.HTTPError:
            pass

    t = threading.Thread(target=upload)
    t.start()
    assert sent.wait(30)
    time.sleep(0.5)
    assert any(p.parent.parent.name == "tmp" for p in _files(srv))  # the partial upload is on disk
    srv.srv.kill()
    t.join(30)
    srv.srv.start()
    assert _files(srv) == []  # the dead process's temporary directory was swept
    assert httpx.get(url, headers=ci).status_code == 404  # the session outlived the restart

    # a second process on the same data directory and database serves what the first published
    other = ServerProcess(srv.data_dir, srv.srv.database).start()
    try:
        r = _cli(srv, w, "publish", "app.bin", "--project", P, "--name", "app.bin", "--version", "1.0",
                 "--bundle", "app.bin.sigstore.json")  # fmt: skip
        assert r.code == 0, r.err
        r = run_assay("fetch", f"{P}/app.bin@1.0", "--out", "via-other.bin", "--server", other.url, cwd=w,
                      env={"ASSAY_TOKEN": str(srv.publisher.bearer)})  # fmt: skip
        assert r.code == 0, r.err
        assert (w / "via-other.bin").read_bytes() == (w / "app.bin").read_bytes()
    finally:
        other.stop()


def test_policy_eval_from_the_evidence_store(repo):
    srv, w = repo
    ci = {"ASSAY_TOKEN": str(srv.publisher.bearer)}
    r = run_assay("evidence", "put", "app.bin.sigstore.json", "--server", srv.url, "--project", P, cwd=w, env=ci)
    assert r.code == 0 and "verified" in r.out, r.err
    args = ("policy", "eval", "--policy", "policy.yaml", "--evidence-server", srv.url, "--project", P)
    r = run_assay(*args, "app.bin", cwd=w, env=ci)
    assert r.code == 0, r.out + r.err
    (w / "stranger.bin").write_bytes(b"nobody attested this")
    r = run_assay(*args, "stranger.bin", cwd=w, env=ci)
    assert r.code == 1, r.out + r.err
    r = run_assay("policy", "eval", "--policy", "policy.yaml", "--evidence-server", srv.url, "app.bin", cwd=w, env=ci)
    assert r.code == 2 and "error[usage]" in r.err
