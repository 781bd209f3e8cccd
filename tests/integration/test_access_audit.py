"""The audit chain: tampering with rows (edit, delete, rewrite) in SQLite and PostgreSQL is detected;
heads are anchored in the transparency log on demand and on shutdown; two processes share one chain."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assay.access.audit import GENESIS, row_hash
from tests.conftest import run_assay
from tests.integration.accesskit import (
    ADMIN,
    Api,
    admin_api,
    audit_rows,
    fresh_database,
    grant,
    new_project,
    session,
    start,
)
from tests.integration.conftest import ServerProcess


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[str | None]:
    gen = fresh_database(request.param)
    yield next(gen)
    gen.close()


def _sql(srv: ServerProcess, db: str | None, statement: str, *args: Any) -> None:
    if db is None:
        import sqlite3

        with sqlite3.connect(srv.data_dir / "assay.db") as conn:
            conn.execute(statement.replace("%s", "?"), args)
    else:
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(statement, args)


def _verify(srv: ServerProcess, tmp: Path, bearer: str, *extra: str) -> Any:
    env = {"XDG_CONFIG_HOME": str(tmp)}
    return run_assay("audit", "verify", "--server", srv.url, "--token", bearer, *extra, env=env)


def _busy(admin: Api, n: int) -> str:
    project = new_project(admin)
    for i in range(n):
        grant(admin, project, f"user{i}@example.com", "viewer")
    return project


@pytest.mark.slow
def test_editing_deleting_or_rewriting_rows_is_detected(tmp_path: Path, db: str | None) -> None:
    srv = start(tmp_path, db)
    try:
        admin = admin_api(srv)
        _busy(admin, 4)
        assert admin.ok("POST", "/api/v1/audit/anchor")["anchored"] > 0
        _busy(admin, 2)
        state = str(tmp_path / "audit-state.json")
        ok = _verify(srv, tmp_path, admin.bearer, "--state", state)
        assert ok.code == 0, ok.err
        assert "audit chain verified" in ok.out

        # 1. edit one row in place
        _sql(srv, db, "UPDATE audit_log SET target = %s WHERE seq = %s", "grant admin to mallory@example.com", 3)
        edited = _verify(srv, tmp_path, admin.bearer)
        assert edited.code == 1
        assert "error[audit-row-altered]" in edited.err and "row 3" in edited.err, edited.err

        # 2. rewrite the whole chain consistently after the edit: only the anchor in the log disagrees
        rows = audit_rows(admin)
        prev = GENESIS
        for row in rows:
            fixed = row_hash(prev, row)
            _sql(srv, db, "UPDATE audit_log SET prev_hash = %s, hash = %s WHERE seq = %s", prev, fixed, row["seq"])
            prev = fixed
        anchors = admin.ok("GET", "/api/v1/audit/anchors")["anchors"]
        seq = anchors[0]["seq"]
        new_head = next(r for r in audit_rows(admin) if r["seq"] == seq)["hash"]
        _sql(srv, db, "UPDATE audit_anchors SET head_hash = %s WHERE seq = %s", bytes.fromhex(new_head), seq)
        rewritten = _verify(srv, tmp_path, admin.bearer)
        assert rewritten.code == 1
        assert "error[audit-anchor-mismatch]" in rewritten.err and f"row {seq}" in rewritten.err, rewritten.err

        # 3. ... and delete the anchors too: a verifier that remembers them still checks them against the log
        _sql(srv, db, "DELETE FROM audit_anchors WHERE seq > %s", 0)
        hidden = _verify(srv, tmp_path, admin.bearer, "--state", state)
        assert hidden.code == 1
        assert "error[audit-anchor-mismatch]" in hidden.err and f"row {seq}" in hidden.err, hidden.err
    finally:
        srv.stop()


@pytest.mark.slow
def test_deleting_a_row_is_detected(tmp_path: Path, db: str | None) -> None:
    srv = start(tmp_path, db)
    try:
        admin = admin_api(srv)
        _busy(admin, 3)
        anchored = admin.ok("POST", "/api/v1/audit/anchor")["anchored"]
        state = str(tmp_path / "state.json")
        assert _verify(srv, tmp_path, admin.bearer, "--state", state).code == 0
        _sql(srv, db, "DELETE FROM audit_anchors WHERE seq = %s", anchored)
        missing = _verify(srv, tmp_path, admin.bearer, "--state", state)
        assert missing.code == 1
        assert "error[audit-anchor-missing]" in missing.err and f"row {anchored}" in missing.err, missing.err
        _sql(srv, db, "DELETE FROM audit_log WHERE seq = %s", 2)
        gone = _verify(srv, tmp_path, admin.bearer)
        assert gone.code == 1
        assert "error[audit-row-missing]" in gone.err and "row 2" in gone.err, gone.err
    finally:
        srv.stop()


@pytest.mark.slow
def test_the_head_is_anchored_on_shutdown_with_a_log_proof(tmp_path: Path) -> None:
    with start(tmp_path, None) as srv:
        admin = admin_api(srv)
        _busy(admin, 2)
        head = audit_rows(admin)[-1]
    again = ServerProcess(srv.data_dir, None, port=srv.port, extra=srv.extra)
    try:
        again.start()
        admin = admin_api(again)
        anchors = admin.ok("GET", "/api/v1/audit/anchors")["anchors"]
        assert anchors and anchors[-1]["seq"] >= head["seq"]
        anchored = next(r for r in audit_rows(admin) if r["seq"] == anchors[-1]["seq"])
        assert anchors[-1]["head_hash"] == anchored["hash"]
        entry = run_assay("log", "verify-entry", "--server", again.url, "--uuid", anchors[-1]["log_uuid"], "-o", "json")
        assert entry.code == 0, entry.err
        statement = f"assay-audit-head v1\nseq {anchored['seq']}\nhash {anchored['hash']}\n".encode()
        assert json.loads(entry.out)["body"]["spec"]["data"]["hash"]["value"] == hashlib.sha256(statement).hexdigest()
        assert _verify(again, tmp_path, admin.bearer).code == 0
    finally:
        again.stop()


@pytest.mark.slow
def test_audit_list_filters(tmp_path: Path) -> None:
    srv = start(tmp_path, None)
    try:
        admin = admin_api(srv)
        project = _busy(admin, 2)
        env = {"XDG_CONFIG_HOME": str(tmp_path)}
        out = run_assay(
            "audit", "list", "--server", srv.url, "--token", admin.bearer, "--project", project, "--json", env=env
        )
        assert out.code == 0, out.err
        rows = json.loads(out.out)["rows"]
        assert [r["action"] for r in rows] == ["project.create", "member.write", "member.write"]
        none = run_assay(
            "audit", "list", "--server", srv.url, "--token", admin.bearer, "--actor", "nobody@", "--json", env=env
        )
        assert json.loads(none.out)["rows"] == []
        later = run_assay(
            "audit", "list", "--server", srv.url, "--token", admin.bearer, "--since", "2999-01-01", "--json", env=env
        )
        assert json.loads(later.out)["rows"] == []
        viewer = session(srv, "user0@example.com")
        refused = run_assay("audit", "list", "--server", srv.url, "--token", viewer, "--project", project, env=env)
        assert refused.code == 2 and "error[insufficient-role]" in refused.err
    finally:
        srv.stop()


@pytest.mark.slow
def test_two_servers_on_one_postgres_share_sessions_tokens_and_the_chain(tmp_path: Path, pg_database: str) -> None:
    a = start(tmp_path, pg_database)
    b_dir = tmp_path / "b"
    b = ServerProcess(b_dir, pg_database, extra=["--admin", f"{a.url}/dev/oidc={ADMIN}"])
    try:
        b_dir.mkdir()
        shutil.copytree(a.data_dir / "keys", b_dir / "keys")
        a_admin = Api(a, session(a, ADMIN))
        b.start()
        b_admin = Api(b, a_admin.bearer)  # a session from A works on B
        assert b_admin.ok("GET", "/api/v1/auth/whoami")["subject"] == ADMIN
        project = new_project(a_admin)
        token = b_admin.ok("POST", f"/api/v1/projects/{project}/tokens", {"role": "admin"})
        assert Api(a, token["token"]).ok("GET", f"/api/v1/projects/{project}")["role"] == "admin"
        for i in range(10):
            api = a_admin if i % 2 else b_admin
            grant(api, project, f"both{i}@example.com", "viewer")
        a_admin.ok("POST", f"/api/v1/projects/{project}/tokens/{token['id']}/revoke")
        assert Api(b, token["token"])("GET", f"/api/v1/projects/{project}").json()["reason"] == "token-revoked"
        rows = audit_rows(b_admin)
        assert rows == audit_rows(a_admin)
        assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
        assert _verify(a, tmp_path, a_admin.bearer).code == 0
    finally:
        a.stop()
        b.stop()
