"""TUF keys in a PKCS#11 HSM (SoftHSM2): an offline root key and the server's online key, both ``hsm:`` URIs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_assay
from tests.integration.accesskit import Api, admin_api, new_project, start
from tests.integration.tufkit import Repo, keypair

URI = "hsm:2?label=assay-test"


def test_root_and_online_keys_in_an_hsm(hsm: dict[str, str], tmp_path: Path) -> None:
    srv = start(tmp_path, None, "--tuf-online-key", URI, env=hsm)
    try:
        admin: Api = admin_api(srv)
        project = new_project(admin)
        admin.ok("PUT", f"/api/v1/projects/{project}/visibility", {"visibility": "public"})
        targets_key = keypair(tmp_path, "targets")[0]
        r = run_assay("tuf", "init", "--server", srv.url, "--project", project, "--token", str(admin.bearer),
                      "--root-key", URI, "--targets-key", targets_key, cwd=tmp_path, env=hsm)  # fmt: skip
        assert r.code == 0, r.err
        root = (tmp_path / f"{project}.root.json").read_bytes()
        repo = Repo(srv, admin, project, tmp_path, root)
        hsm_keyid = json.loads(root)["signed"]["roles"]["root"]["keyids"][0]
        assert json.loads(root)["signed"]["roles"]["timestamp"]["keyids"] == [hsm_keyid]  # the same token key
        assert json.loads(repo.served("timestamp.json").content)["signatures"][0]["keyid"] == hsm_keyid
        repo.updater(tmp_path / "c").refresh()
    finally:
        srv.stop()
