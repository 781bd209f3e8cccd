"""Periodic audit anchoring runs in one server process at a time (lease ``audit-anchor``): two servers on one
PostgreSQL never both anchor, and when the holder dies the other takes over once its lease has expired."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import psycopg
import pytest

from tests.integration.accesskit import ADMIN, Api, admin_api, grant, new_project, session, start
from tests.integration.conftest import ServerProcess

INTERVAL = 1.0
TTL = INTERVAL * 1.2 + 1.0  # what the server uses: a little above the interval


def _lease(db: str) -> tuple[str, int] | None:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT holder, expires FROM leases WHERE name = 'audit-anchor'").fetchone()
    return None if row is None else (str(row[0]), int(row[1]))


def _pid(holder: str) -> int:
    return int(holder.split(":")[1])


def _anchors(api: Api) -> list[dict[str, int]]:
    return list(api.ok("GET", "/api/v1/audit/anchors")["anchors"])


@pytest.mark.slow
def test_one_process_anchors_and_the_other_takes_over_after_the_ttl(tmp_path: Path, pg_database: str) -> None:
    flag = ["--audit-anchor-interval", str(INTERVAL)]
    a = start(tmp_path, pg_database, *flag)
    b = ServerProcess(tmp_path / "b", pg_database, extra=["--admin", f"{a.url}/dev/oidc={ADMIN}", *flag])
    try:
        (tmp_path / "b").mkdir()
        shutil.copytree(a.data_dir / "keys", tmp_path / "b" / "keys")  # both sign anchors with the log key
        b.start()
        bearer = session(a, ADMIN)
        apis = {a.proc.pid: Api(a, bearer), b.proc.pid: Api(b, bearer)}  # type: ignore[union-attr]
        project = new_project(admin_api(a))

        # Busy for several intervals on both servers: the lease has one holder throughout.
        holders: set[int] = set()
        t0 = time.time()
        i = 0
        while time.time() - t0 < 6 * INTERVAL:
            grant(list(apis.values())[i % 2], project, f"u{i}@example.com", "viewer")
            i += 1
            lease = _lease(pg_database)
            if lease is not None:
                holders.add(_pid(lease[0]))
            time.sleep(0.1)
        t1 = time.time()
        assert len(holders) == 1 and holders <= set(apis), holders
        (holder,) = holders
        window = [x for x in _anchors(apis[holder]) if int(t0) + 1 <= x["created"] <= int(t1)]
        # one anchoring process: at most one anchor per interval (two would anchor about twice as often)
        # (+1: a tick delayed on a loaded machine catches up at the edge; two anchorers would give about 2x)
        assert 1 <= len(window) <= (int(t1) - int(t0) - 1) / INTERVAL + 2, window

        # Kill the holder (no shutdown hook, no release): the other waits out the TTL, then anchors.
        dead, alive = (a, b) if holder == a.proc.pid else (b, a)  # type: ignore[union-attr]
        dead.kill()
        survivor = apis[alive.proc.pid]  # type: ignore[union-attr]
        killed_lease = _lease(pg_database)
        assert killed_lease is not None and _pid(killed_lease[0]) == holder
        last = max(x["seq"] for x in _anchors(survivor))
        taken_at = None
        deadline = time.time() + TTL + 4 * INTERVAL + 10
        while time.time() < deadline:
            grant(survivor, project, f"after{i}@example.com", "viewer")
            i += 1
            lease = _lease(pg_database)
            if lease is not None and _pid(lease[0]) == alive.proc.pid:  # type: ignore[union-attr]
                taken_at = time.time() * 1000
                break
            time.sleep(0.1)
        assert taken_at is not None, "the surviving server never took the lease over"
        assert taken_at >= killed_lease[1], "taken over before the dead holder's lease expired"
        deadline = time.time() + 3 * INTERVAL + 10
        while time.time() < deadline and max(x["seq"] for x in _anchors(survivor)) <= last:
            grant(survivor, project, f"more{i}@example.com", "viewer")
            i += 1
            time.sleep(0.2)
        assert max(x["seq"] for x in _anchors(survivor)) > last, "the new holder does not anchor"
    finally:
        a.stop()
        b.stop()
