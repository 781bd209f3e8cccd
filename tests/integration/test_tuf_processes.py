"""Two server processes on one PostgreSQL database: concurrent uploads are numbered once, none is lost."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import DelegatedRole, Delegations, Metadata, TargetFile, Targets

from assay.tuf import offline
from assay.tuf.repository import to_bytes
from tests.integration.accesskit import admin_api, new_project
from tests.integration.conftest import ServerProcess
from tests.integration.tufkit import Repo, init_in_process

ROLES = 8


def test_concurrent_uploads_through_two_processes(tmp_path: Path, pg_database: str) -> None:
    args = ["--dev", "--login-rate-limit", "100000/m"]
    a = ServerProcess(tmp_path / "data", pg_database, extra=args).start()
    b = ServerProcess(tmp_path / "data", pg_database, extra=args).start()  # same keys, same database
    try:
        admin = admin_api(a)
        project = new_project(admin)
        admin.ok("PUT", f"/api/v1/projects/{project}/visibility", {"visibility": "public"})
        devs = [CryptoSigner.generate_ecdsa() for _ in range(ROLES)]
        roles = {f"r{i}": DelegatedRole(f"r{i}", [d.public_key.keyid], 1, True, paths=[f"r{i}/*"])
                 for i, d in enumerate(devs)}  # fmt: skip
        signed = init_in_process(admin, project, Delegations({d.public_key.keyid: d.public_key for d in devs}, roles))

        def upload(i: int) -> list[int]:
            srv = (a, b)[i % 2]
            codes = []
            for v in (1, 2, 3):
                data = f"r{i} v{v}".encode()
                path = f"r{i}/file"
                md = Metadata(Targets(version=v, expires=offline.expiry(30),
                                      targets={path: TargetFile.from_data(path, data, ["sha256"])}))  # fmt: skip
                md.sign(devs[i])
                headers = {"Authorization": f"Bearer {admin.bearer}"}
                base = f"{srv.url}/api/v1/projects/{project}/tuf"
                assert httpx.put(f"{base}/blobs", content=data, headers=headers, timeout=60).status_code == 201
                r = httpx.put(f"{base}/roles/r{i}", content=to_bytes(md), headers=headers, timeout=60)
                codes.append(r.status_code)
            return codes

        with ThreadPoolExecutor(ROLES) as pool:
            results = list(pool.map(upload, range(ROLES)))
        assert all(codes == [201, 201, 201] for codes in results), results
        repo = Repo(a, admin, project, tmp_path, signed.bytes(signed.root))
        versions = repo.versions()
        assert all(versions[f"r{i}"] == 3 for i in range(ROLES)), versions
        assert versions["snapshot"] == 1 + 3 * ROLES  # one snapshot per publish, none numbered twice
        up = repo.updater(tmp_path / "c")
        up.refresh()
        for i in range(ROLES):
            info = up.get_targetinfo(f"r{i}/file")
            assert info is not None
            assert Path(up.download_target(info, str(tmp_path / f"r{i}"))).read_bytes() == f"r{i} v3".encode()
        snap = json.loads(repo.served(f"{versions['snapshot']}.snapshot.json").content)["signed"]["meta"]
        assert {k: v["version"] for k, v in snap.items()} == {
            "targets.json": 1,
            **{f"r{i}.json": 3 for i in range(ROLES)},
        }
    finally:
        a.stop()
        b.stop()
