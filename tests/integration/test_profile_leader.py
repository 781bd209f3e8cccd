"""The profile scheduler runs in one process at a time (lease ``profile-scheduler``): two servers on one
PostgreSQL never both hold it, and when the holder is killed with SIGKILL the other takes over and evaluates."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from tests.integration.accesskit import ADMIN, Api, new_project, session
from tests.integration.conftest import ServerProcess, push_image
from tests.integration.profilekit import FAST, fast_server, key_profile, keypair, wait_for


def _holder(db: str) -> tuple[int, int] | None:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT holder, expires FROM leases WHERE name = 'profile-scheduler'").fetchone()
    return None if row is None else (int(str(row[0]).split(":")[1]), int(row[1]))


def _versions_evaluated(db: str, project: str) -> set[int]:
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT DISTINCT profile_version FROM profile_history WHERE project = %s", (project,))
        return {int(r[0]) for r in rows}


@pytest.mark.slow
def test_one_scheduler_leader_and_takeover_after_sigkill(tmp_path: Path, pg_database: str, registry) -> None:
    a = fast_server(tmp_path, pg_database)
    b = ServerProcess(tmp_path / "b", pg_database, extra=["--admin", f"{a.url}/dev/oidc={ADMIN}", *FAST])
    try:
        (tmp_path / "b").mkdir()
        b.start()
        bearer = session(a, ADMIN)
        apis = {a.proc.pid: Api(a, bearer), b.proc.pid: Api(b, bearer)}  # type: ignore[union-attr]
        api_a = apis[a.proc.pid]  # type: ignore[union-attr]
        project = new_project(api_a)
        push_image(registry.host, "team/app", "latest", b"unsigned")
        api_a.ok("POST", f"/api/v1/projects/{project}/entities",
                 {"kind": "image", "name": f"{registry.host}/team/app", "insecure": True})  # fmt: skip
        pem = keypair(tmp_path)
        r = api_a("POST", f"/api/v1/projects/{project}/profiles", content=key_profile("release", pem).encode())
        assert r.status_code == 201, r.text

        holders: set[int] = set()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 4:
            found = _holder(pg_database)
            if found is not None:
                holders.add(found[0])
            time.sleep(0.1)
        assert len(holders) == 1 and holders <= set(apis), holders
        assert wait_for("the first evaluation", lambda: _versions_evaluated(pg_database, project) == {1})
        (leader,) = holders
        dead, alive = (a, b) if leader == a.proc.pid else (b, a)  # type: ignore[union-attr]
        dead.kill()  # SIGKILL: no shutdown hook, the lease is not released
        killed = _holder(pg_database)
        assert killed is not None and killed[0] == leader
        survivor = apis[alive.proc.pid]  # type: ignore[union-attr]
        # a profile change through the survivor is evaluated once it has taken the lease over
        r = survivor("POST", f"/api/v1/projects/{project}/profiles",
                     content=key_profile("release", pem, interval="2s").encode())  # fmt: skip
        assert r.status_code == 201, r.text
        took = wait_for(
            "the survivor taking the lease",
            lambda: (_holder(pg_database) or (0, 0))[0] == alive.proc.pid and time.time(),  # type: ignore[union-attr]
        )
        assert took * 1000 >= killed[1] - 50, "taken over before the dead holder's lease expired"
        assert wait_for("the survivor evaluating", lambda: 2 in _versions_evaluated(pg_database, project))
    finally:
        a.stop()
        b.stop()
