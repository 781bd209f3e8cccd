"""Online-key rotation: a second online key on the server, a root naming it, clients follow through root N+1."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.integration.conftest import ServerProcess
from tests.integration.tufkit import keypair, make_repo


def test_rotating_the_online_key_reaches_ngclient(tmp_path: Path, database: str | None) -> None:
    data = tmp_path / "data"
    args = ["--dev", "--login-rate-limit", "100000/m"]
    srv = ServerProcess(data, database, extra=args).start()
    try:
        repo = make_repo(srv, tmp_path)
        old_keyid = json.loads(repo.served("timestamp.json").content)["signatures"][0]["keyid"]
    finally:
        srv.stop()
    new_key, _ = keypair(tmp_path / "online", "online2")
    srv = ServerProcess(data, database, port=srv.port, extra=[*args, "--tuf-online-key", new_key]).start()
    try:
        repo.srv = srv
        offered = httpx.get(srv.url + "/api/v1/tuf/online-keys", timeout=10).json()["keys"]
        assert len(offered) == 2 and offered[1]["keyid"] == old_keyid  # the new key is preferred
        # until a root names the new key, the server keeps signing with the one the current root names
        assert json.loads(repo.served("timestamp.json").content)["signatures"][0]["keyid"] == old_keyid
        r1, r2 = repo.key("r1")[0], repo.key("r2")[0]
        r = repo.assay("rotate-root", "--online-key", "server", "--signer", r1, "--signer", r2)
        assert r.code == 0, r.err
        ts = json.loads(repo.served("timestamp.json").content)
        assert ts["signatures"][0]["keyid"] == offered[0]["keyid"] != old_keyid
        up = repo.updater(tmp_path / "c")  # bootstrapped with root v1, which trusts only the old key
        up.refresh()
        assert json.loads((tmp_path / "c" / "meta" / "root.json").read_bytes())["signed"]["version"] == 2
        rows = {row["role"]: row for row in repo.status()["roles"]}
        assert rows["timestamp"]["keys"] == [offered[0]["keyid"]] and rows["timestamp"]["missing"] == 0
    finally:
        srv.stop()
