"""``--tuf-trust-project``: an admin's repository (``assay tuf init --sigstore-trust``) carries the server's
Sigstore trust targets, published through the server-owned ``sigstore-trust`` role."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.accesskit import admin_api, start
from tests.integration.tufkit import Repo, keypair


def test_trust_project_publishes_trusted_root_and_signing_config(tmp_path: Path, database: str | None) -> None:
    srv = start(tmp_path, database, "--tuf-trust-project", "acme-trust")
    try:
        admin = admin_api(srv)
        admin.ok("POST", "/api/v1/projects", {"name": "acme-trust"})
        admin.ok("PUT", "/api/v1/projects/acme-trust/visibility", {"visibility": "public"})
        # before the repository exists there is nothing to publish into: a reason, not a crash
        r = admin("POST", "/api/v1/tuf/republish")
        assert (r.status_code, r.json()["reason"]) == (400, "tuf-not-initialised"), r.text
        work = tmp_path / "w"
        work.mkdir()
        repo = Repo(srv, admin, "acme-trust", work, b"")
        root_key, targets_key = keypair(work, "root")[0], keypair(work, "targets")[0]
        r = repo.assay("init", "--root-key", root_key, "--targets-key", targets_key, "--sigstore-trust")
        assert r.code == 0, r.err
        repo.root = (work / "acme-trust.root.json").read_bytes()
        done = admin.ok("POST", "/api/v1/tuf/republish")
        assert done["project"] == "acme-trust" and done["published"]["version"] == 1
        assert admin.ok("POST", "/api/v1/tuf/republish")["published"] is None
        up = repo.updater(tmp_path / "c")
        up.refresh()
        info = up.get_targetinfo("trusted_root.json")
        assert info is not None
        doc = json.loads(Path(up.download_target(info, str(tmp_path / "tr.json"))).read_bytes())
        assert doc["tlogs"][0]["baseUrl"] == srv.url and doc["certificateAuthorities"]
        assert up.get_targetinfo("signing_config.v0.2.json") is not None
        rows = {row["role"]: row for row in repo.status()["roles"]}
        assert rows["sigstore-trust"]["delegator"] == "targets" and rows["sigstore-trust"]["missing"] == 0
    finally:
        srv.stop()
