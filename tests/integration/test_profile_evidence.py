"""New evidence about an entity's digest re-evaluates the profiles watching it at once (not at the next
interval); selectors and entities without artifacts give ``skipped``."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from tests.conftest import run_assay
from tests.integration.accesskit import release_policy
from tests.integration.profilekit import env_for, fast_server, key_profile, keypair, project_on, rows, wait_for


def test_new_evidence_triggers_evaluation_and_selectors_skip(tmp_path: Path) -> None:
    srv = fast_server(tmp_path, None)
    try:
        admin, project = project_on(srv)
        env = env_for(srv)
        base = f"/api/v1/projects/{project}"
        pem = keypair(tmp_path)
        (tmp_path / "app.bin").write_bytes(b"release 1.0")
        assert run_assay("sign-blob", "app.bin", "--key", "k.key", cwd=tmp_path).code == 0
        digest = "sha256:" + hashlib.sha256(b"release 1.0").hexdigest()
        admin.ok("PUT", f"{base}/trust", {"keys": [pem]})
        assert run_assay("entity", "add", "-p", project, "evidence-subject", digest, env=env).code == 0
        assert run_assay("entity", "add", "-p", project, "blob", "never-published.bin", env=env).code == 0
        r = admin("POST", f"{base}/profiles", content=key_profile("release", pem, interval="1h").encode())
        assert r.status_code == 201, r.text
        only_images = key_profile("images", pem, interval="1h", selectors=["entity.type == 'image'"])
        assert admin("POST", f"{base}/profiles", content=only_images.encode()).status_code == 201

        def by_target(profile: str) -> dict[str, tuple[str, str]]:
            return {r["target"]: (r["status"], r["reason"]) for r in rows(admin, project, profile)}

        first = wait_for("the first evaluation", lambda: len(by_target("release")) == 2 and by_target("release"))
        assert first[digest][0] == "failure"
        assert first["never-published.bin"] == ("skipped", "no-artifact-versions")
        skipped = wait_for("the selector's verdict", lambda: by_target("images"))
        assert set(skipped.values()) == {("skipped", "selector-not-matched")}

        # the signature arrives as evidence: evaluated now, although the interval is an hour
        t0 = time.monotonic()
        put = run_assay("evidence", "put", "app.bin.sigstore.json", "-p", project, env=env, cwd=tmp_path)
        assert put.code == 0, put.err
        wait_for("success after the evidence", lambda: by_target("release")[digest][0] == "success", timeout=15)
        assert time.monotonic() - t0 < 15
        hist = admin.ok("GET", f"{base}/history?entity={digest}")
        assert [h["status"] for h in hist["items"] if h["profile"] == "release"] == ["success", "failure"]
        # an artifact of the verified repository: every published version is a target
        policy = {"policy": release_policy("release.pub"), "files": {"release.pub": pem}}
        admin.ok("PUT", f"{base}/repository/policy", policy)
        r = admin("PUT", f"{base}/artifacts/app.bin/1.0", content=b"release 1.0")
        assert r.status_code == 201, r.text
        assert run_assay("entity", "add", "-p", project, "blob", "app.bin", env=env).code == 0
        wait_for("the published version evaluated", lambda: by_target("release").get("app.bin@1.0") == ("success", ""))
        summary = run_assay("profile", "status", "-p", project, "--name", "release", env=env)
        assert summary.code == 0 and "profile release v1: success" in summary.out, summary.out
    finally:
        srv.stop()
