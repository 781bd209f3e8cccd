"""Issue 22 item 4: a retention setting must not brick the server (real server, SQLite and PostgreSQL).

Found: ``unverifiedRetentionDays`` of 10^15 was answered 500 but saved; every later upload to that project
answered 500, and ``assay server`` then refused to start (``OverflowError`` in the start-up retention sweep).
Now the value is validated by type and range before anything is stored (400 ``bad-retention``, nothing
stored); a stored value out of range (written before validation) purges nothing; and the sweep is isolated per
project, so a project whose sweep fails is logged and neither the server nor other projects are stopped.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert, update

from assay.store.db import database_url, open_engine
from assay.store.schema import evidence_trust
from tests.integration.accesskit import ProjectServer, project_server

P = "acme"


def _api(ps: ProjectServer, project: str, path: str) -> str:
    return f"{ps.url}/api/v1/projects/{project}{path}"


def _unsigned_dsse() -> bytes:
    """A DSSE envelope no key verifies: stored only as unverified evidence."""
    st = {"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://x.test/p", "predicate": {},
          "subject": [{"name": "a", "digest": {"sha256": secrets.token_hex(32)}}]}  # fmt: skip
    env = {"payloadType": "application/vnd.in-toto+json", "payload": base64.b64encode(json.dumps(st).encode()).decode(),
           "signatures": [{"sig": base64.b64encode(b"x" * 64).decode()}]}  # fmt: skip
    return json.dumps(env).encode()


def _upload(ps: ProjectServer, project: str) -> httpx.Response:
    return httpx.post(_api(ps, project, "/evidence"), content=_unsigned_dsse(), params={"accept": "unverified"},
                      headers=ps.auth(), timeout=60)  # fmt: skip


def _unverified(ps: ProjectServer, project: str) -> list[dict]:
    r = httpx.get(_api(ps, project, "/evidence"), params={"status": "unverified"}, headers=ps.auth(), timeout=30)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _retention(ps: ProjectServer, body: bytes) -> httpx.Response:
    return httpx.put(_api(ps, P, "/retention"), content=body, headers=ps.auth(), timeout=30)


@pytest.fixture
def ps(tmp_path: Path, database: str | None):
    server = project_server(tmp_path, database, P, "ci@acme.test")
    try:
        yield server
    finally:
        server.srv.stop()


def test_out_of_range_retention_is_refused_and_nothing_is_stored(ps: ProjectServer) -> None:
    r = _retention(ps, b'{"unverifiedRetentionDays": 7}')
    assert r.status_code == 200 and r.json()["unverifiedRetentionDays"] == 7, r.text
    for body in (
        b'{"unverifiedRetentionDays": 1000000000000000}',  # 10^15: the value that bricked the server
        b'{"unverifiedRetentionDays": 36501}',
        b'{"unverifiedRetentionDays": 99999999999999999999}',
        b'{"unverifiedRetentionDays": -1}',
        b'{"unverifiedRetentionDays": 1.5}',
        b'{"unverifiedRetentionDays": 3.0}',
        b'{"unverifiedRetentionDays": "30"}',
        b'{"unverifiedRetentionDays": true}',
        b'{"unverifiedRetentionDays": [30]}',
        b'{"unverifiedRetentionDays": {"days": 30}}',
        b"{}",  # no value is not "forever": forever is an explicit null
        b'{"unverifiedRetentionDays": 3, "verifiedRetentionDays": 3}',
    ):
        r = _retention(ps, body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["reason"] == "bad-retention", (body, r.json())
    for body in (b'{"unverifiedRetentionDays": 1e400}', b'{"unverifiedRetentionDays": ' + b"9" * 5000 + b"}"):
        r = _retention(ps, body)
        assert r.status_code == 400 and r.json()["reason"] in ("bad-retention", "json-invalid"), r.text
    trust = httpx.get(_api(ps, P, "/trust"), headers=ps.auth(), timeout=30).json()
    assert trust["unverifiedRetentionDays"] == 7  # nothing half-changed
    # the project still takes uploads
    assert _upload(ps, P).status_code == 201
    # the edges are accepted: a century, zero, and null (forever)
    for days in (36500, 0, None):
        r = _retention(ps, json.dumps({"unverifiedRetentionDays": days}).encode())
        assert r.status_code == 200 and r.json()["unverifiedRetentionDays"] == days, r.text


def _write_settings(url: str, project: str, **values: object) -> None:
    """Write a project's settings row straight into the database, as an older server would have."""
    engine = open_engine(url)
    try:
        with engine.begin() as conn:
            found = conn.execute(
                update(evidence_trust).where(evidence_trust.c.project == project).values(**values)
            ).rowcount
            if not found:
                row = {"keys": "[]", "identities": "[]", "updated": 0, **values}
                conn.execute(insert(evidence_trust).values(project=project, **row))
    finally:
        engine.dispose()


def test_the_server_starts_and_sweeps_other_projects_despite_bad_stored_settings(
    ps: ProjectServer, database: str | None
) -> None:
    for name in ("a-bad", "b-corrupt", "z-good"):
        ps.admin.ok("POST", "/api/v1/projects", {"name": name})
    for name in ("a-bad", "z-good"):
        assert _upload(ps, name).status_code == 201
    assert len(_unverified(ps, "z-good")) == 1
    ps.srv.stop()
    url = database_url(database, ps.data_dir)
    # a value out of range (SQLite keeps 10^15; PostgreSQL's integer column cannot, so a negative one there)
    _write_settings(url, "a-bad", unverified_retention_days=10**15 if database is None else -5)
    _write_settings(url, "b-corrupt", unverified_retention_days=1, keys="not json")  # its sweep raises
    _write_settings(url, "z-good", unverified_retention_days=0)
    ps.srv.start()  # before: exit 3, error[internal]: OverflowError
    log = ps.srv.log_path.read_text() if ps.srv.log_path else ""
    assert "retention sweep of project b-corrupt failed" in log
    assert "a-bad: unverifiedRetentionDays" in log
    assert _unverified(ps, "z-good") == []  # swept although a-bad and b-corrupt come first
    assert len(_unverified(ps, "a-bad")) == 1  # an out-of-range value deletes nothing
    r = _upload(ps, "a-bad")  # before: 500 on every upload
    assert r.status_code == 201, r.text
    assert len(_unverified(ps, "a-bad")) == 2
    # the administrator repairs it through the API
    r = httpx.put(_api(ps, "a-bad", "/retention"), json={"unverifiedRetentionDays": 30}, headers=ps.auth(), timeout=30)
    assert r.status_code == 200, r.text
