"""Issue 22 item 4: the artifact repository attacked through crafted paths and names (real server, both DBs).

Found and fixed: a repository policy is loaded on the server, and it could name a key, layout, links directory
or trusted root by an absolute path or through ``../`` (read from the server's own filesystem — its data
directory holds the repository's private key) or a ``trust.server`` URL (fetched by the server: a request
forgery). Now a repository policy names only files sent with it: 400 ``policy-file-outside`` /
``policy-trust-server-refused``, and the previous policy stays. Probed and held: ``..`` and encoded slashes in
artifact names and versions, another project's artifacts, VSAs and evidence, shared blobs across projects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_assay
from tests.integration.accesskit import Api, ProjectServer, grant, project_server, release_policy, session

P = "acme"
B = "bravo"


@pytest.fixture
def repo(tmp_path: Path, database: str | None) -> Iterator[tuple[ProjectServer, Path]]:
    """Projects acme and bravo, both trusting k1 with the same release policy; app.bin signed by k1."""
    ps = project_server(tmp_path, database, P, "ci@acme.test")
    try:
        ps.admin.ok("POST", "/api/v1/projects", {"name": B})
        grant(ps.admin, B, "ci@acme.test", "publisher")
        assert run_assay("keygen", "--output-prefix", "k1", cwd=tmp_path).code == 0
        (tmp_path / "policy.yaml").write_text(release_policy("k1.pub"))
        for project in (P, B):
            common = ("--server", ps.url, "--project", project, "--token", str(ps.admin.bearer))
            for args in (("evidence", "trust", "--key", "k1.pub"),
                         ("repository", "policy", "policy.yaml", "--file", "k1.pub")):  # fmt: skip
                r = run_assay(*args, *common, cwd=tmp_path)
                assert r.code == 0, r.err
        (tmp_path / "app.bin").write_bytes(b"release build 1.0")
        assert run_assay("sign-blob", "app.bin", "--key", "k1.key", cwd=tmp_path).code == 0
        yield ps, tmp_path
    finally:
        ps.srv.stop()


def _policy(ps: ProjectServer, doc: object, project: str = P) -> httpx.Response:
    return httpx.put(f"{ps.url}/api/v1/projects/{project}/repository/policy", json=doc, headers=ps.auth(), timeout=30)


def _publish(ps: ProjectServer, w: Path, project: str, name: str = "app.bin", version: str = "1.0") -> httpx.Response:
    return httpx.put(f"{ps.url}/api/v1/projects/{project}/artifacts/{name}/{version}",
                     content=(w / "app.bin").read_bytes(), headers=ps.auth(ps.publisher), timeout=60)  # fmt: skip


def _upload_bundle(ps: ProjectServer, w: Path, project: str) -> None:
    r = httpx.post(f"{ps.url}/api/v1/projects/{project}/evidence", content=(w / "app.bin.sigstore.json").read_bytes(),
                   headers=ps.auth(ps.publisher), timeout=60)  # fmt: skip
    assert r.status_code in (200, 201), r.text


def test_a_repository_policy_names_only_the_files_sent_with_it(repo) -> None:
    ps, w = repo
    key = (w / "k1.pub").read_text()
    outside = [
        "../../repository.key",
        "../repository.pub",
        "/etc/passwd",
        str(ps.data_dir / "repository.pub"),
        "keys/k1.pub",
        "..",
        "k%2f..%2f..%2frepository.key",
    ]
    for ref in outside:
        r = _policy(ps, {"policy": release_policy(ref), "files": {"k1.pub": key}})
        assert r.status_code == 400, (ref, r.text)
        assert r.json()["reason"] == "policy-file-outside", (ref, r.json())
    with_trust = release_policy("k1.pub").replace("  require:", "  trust:\n    {}\n  require:")
    for trust, reason in (
        ("server: http://169.254.169.254/latest/meta-data", "policy-trust-server-refused"),
        (f"server: {ps.url}", "policy-trust-server-refused"),
        ("trustedRoot: ../../trusted_root.json", "policy-file-outside"),
        ("trustedRoot: /etc/hostname", "policy-file-outside"),
    ):
        r = _policy(ps, {"policy": with_trust.format(trust), "files": {"k1.pub": key}})
        assert r.status_code == 400 and r.json()["reason"] == reason, (trust, r.text)
    layout = release_policy("k1.pub").replace(
        "    - name: signed-by-release-key",
        "    - name: chain\n      layout:\n        layout: ../../root.layout\n        keys: [k1.pub]\n        links: .\n"
        "    - name: signed-by-release-key",
    )
    r = _policy(ps, {"policy": layout, "files": {"k1.pub": key}})
    assert r.status_code == 400 and r.json()["reason"] in ("policy-file-outside", "policy-invalid"), r.text
    # the policy in force is still the one set before: a signed artifact passes, an unsigned one does not
    _upload_bundle(ps, w, P)
    assert _publish(ps, w, P).status_code == 201
    (w / "app.bin").write_bytes(b"unsigned")
    r = _publish(ps, w, P, version="2.0")
    assert r.status_code == 422 and r.json()["reason"] == "policy-failed", r.text


def test_another_projects_artifacts_and_evidence_stay_apart(repo) -> None:
    ps, w = repo
    _upload_bundle(ps, w, P)
    # bravo has the same policy and trust, but the signature was uploaded to acme only: refused in bravo
    r = _publish(ps, w, B)
    assert r.status_code == 422 and r.json()["reason"] == "policy-failed", r.text
    assert _publish(ps, w, P).status_code == 201
    # a publisher of bravo only cannot read acme's artifact, its VSA or list its versions
    outsider = Api(ps.srv, session(ps.srv, "bravo-only@acme.test"))
    grant(ps.admin, B, "bravo-only@acme.test", "admin")
    h = {"Authorization": f"Bearer {outsider.bearer}"}
    for method, path in (
        ("GET", f"/api/v1/projects/{P}/artifacts/app.bin/1.0"),
        ("GET", f"/api/v1/projects/{P}/artifacts/app.bin/1.0/vsa"),
        ("GET", f"/api/v1/projects/{P}/artifacts/app.bin"),
        ("DELETE", f"/api/v1/projects/{P}/artifacts/app.bin/1.0"),
        ("PUT", f"/api/v1/projects/{P}/repository/policy"),
    ):
        r = httpx.request(method, ps.url + path, headers=h, json={} if method == "PUT" else None, timeout=30)
        assert r.status_code == 404 and r.json()["reason"] == "unknown-project", (method, path, r.text)
    # bravo's name for the same version is bravo's: nothing of acme's is answered there
    assert httpx.get(f"{ps.url}/api/v1/projects/{B}/artifacts/app.bin/1.0", headers=h, timeout=30).status_code == 404
    assert httpx.get(f"{ps.url}/api/v1/projects/{B}/artifacts/app.bin", headers=h, timeout=30).json() == {
        "versions": []
    }
    # the same bytes published in both projects share one blob; deleting bravo's keeps acme's
    _upload_bundle(ps, w, B)
    assert _publish(ps, w, B).status_code == 201
    r = httpx.delete(f"{ps.url}/api/v1/projects/{B}/artifacts/app.bin/1.0", headers=h, timeout=30)
    assert r.status_code == 200, r.text
    got = httpx.get(f"{ps.url}/api/v1/projects/{P}/artifacts/app.bin/1.0", headers=ps.auth(), timeout=30)
    assert (
        got.status_code == 200
        and hashlib.sha256(got.content).hexdigest() == hashlib.sha256(b"release build 1.0").hexdigest()
    )


CRAFTED = [
    ("..", "1.0"),
    ("%2E%2E", "1.0"),
    ("..%2F..%2Fetc", "1.0"),
    ("app.bin", ".."),
    ("app.bin", "..%2F..%2Fpasswd"),
    ("app.bin%2F..", "1.0"),
    ("a%5Cb", "1.0"),
    ("app.bin", "1.0%00"),
    ("app.bin", "%2E"),
    ("." + "a" * 10, "1"),
    ("a" * 300, "1"),
    ("app.bin", "1" * 300),
    ("app bin", "1"),
    ("app.bin", "1.0%0A"),
]


def test_crafted_artifact_names_and_versions_are_refused(repo) -> None:
    ps, _ = repo
    for name, version in CRAFTED:
        base = f"{ps.url}/api/v1/projects/{P}/artifacts/{name}/{version}"
        for method in ("PUT", "GET", "DELETE"):
            r = httpx.request(method, base, content=b"x" if method == "PUT" else None, headers=ps.auth(), timeout=30)
            assert r.status_code in (400, 404), (method, name, version, r.status_code, r.text[:200])
            assert r.json()["code"] == r.status_code
            if r.status_code == 400:
                assert r.json()["reason"] in ("bad-name", "bad-project-name"), r.json()
    for declared in ("sha256:../..", "sha256:" + "%B2" * 21 + "a", "sha256:" + "a" * 5000, "md5:" + "a" * 32, ""):
        r = httpx.put(f"{ps.url}/api/v1/projects/{P}/artifacts/app.bin/9", content=b"x",
                      headers={**ps.auth(), "X-Assay-Digest": declared}, timeout=30)  # fmt: skip
        assert r.status_code in (400, 422), (declared[:20], r.status_code, r.text[:200])
        if declared:
            assert r.json()["reason"] == "bad-digest", r.json()
    blobs = [p for p in (ps.data_dir / "blobs").rglob("*") if p.is_file() and p.name != ".lock"]
    assert blobs == []  # nothing written anywhere
    assert not list(ps.data_dir.parent.glob("passwd*")) and not (ps.data_dir.parent / "etc").exists()
