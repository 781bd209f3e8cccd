"""The online re-signing job: snapshot and timestamp are re-signed before they expire (short ticks here)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from tuf.api.exceptions import ExpiredMetadataError

from tests.integration.accesskit import start
from tests.integration.tufkit import make_repo


def _served(url: str, project: str, name: str) -> dict:
    return json.loads(httpx.get(f"{url}/tuf/{project}/{name}", timeout=10).content)["signed"]


def test_snapshot_and_timestamp_are_re_signed_before_expiry(tmp_path: Path, database: str | None) -> None:
    srv = start(tmp_path, database, "--tuf-tick", "0.3", "--tuf-timestamp-expiry", "6", "--tuf-snapshot-expiry", "8")
    try:
        repo = make_repo(srv, tmp_path)
        first = _served(srv.url, repo.project, "timestamp.json")
        deadline = time.monotonic() + 30
        ts = first
        while time.monotonic() < deadline:
            ts = _served(srv.url, repo.project, "timestamp.json")
            if ts["version"] >= first["version"] + 2 and ts["meta"]["snapshot.json"]["version"] > 1:
                break
            time.sleep(0.3)
        assert ts["version"] >= first["version"] + 2, ts
        assert ts["meta"]["snapshot.json"]["version"] > first["meta"]["snapshot.json"]["version"], ts
        time.sleep(6.5)  # longer than one timestamp's whole life: still fresh, because it keeps being re-signed
        up = repo.updater(tmp_path / "c")
        up.refresh()
        rows = {r["role"]: r for r in repo.status()["roles"]}
        assert rows["timestamp"]["missing"] == 0 and rows["snapshot"]["missing"] == 0
    finally:
        srv.stop()


def test_without_the_job_the_timestamp_expires_and_clients_refuse(tmp_path: Path) -> None:
    srv = start(tmp_path, None, "--tuf-tick", "0", "--tuf-timestamp-expiry", "2")
    try:
        repo = make_repo(srv, tmp_path)
        time.sleep(2.5)
        with pytest.raises(ExpiredMetadataError):
            repo.updater(tmp_path / "c").refresh()
    finally:
        srv.stop()
