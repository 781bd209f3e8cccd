"""Issue 22 item 4: numeric query parameters at their extremes, through the HTTP API (SQLite and PostgreSQL).

Found: evidence search answered 500 for a ``cursor``, ``since`` or ``until`` of 20+ digits (SQLite integer
overflow), of 5,000 digits (Python's int-conversion limit) or a Unicode digit such as ``²`` (``isdigit()``
accepts it, ``int()`` does not). Now every numeric query parameter goes through one strict parser
(``assay.server.params``: ASCII digits, bounded) and answers 400 ``invalid-parameter`` (the log's documented
``bad-index``/``bad-tree-size`` for its own parameters).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.accesskit import ProjectServer, fresh_database, project_server

P = "acme"
DIGEST = "sha256:" + "ab" * 32
MAX_SAFE = 2**53 - 1
# what a hostile client sends where a number belongs
HOSTILE = [
    "1" * 20,  # beyond int64: SQLite overflow
    "9" * 5000,  # beyond Python's int-conversion limit
    "²",  # a Unicode digit: str.isdigit() says yes, int() says no
    "١٢",  # Arabic-Indic digits
    "-1",
    "",
    "+5",
    " 5",
    "5_000",
    "0x10",
    "1e3",
    "1.5",
    str(MAX_SAFE + 1),
]
# (path, parameter, other parameters) of every numeric query parameter of the server
EVIDENCE_PARAMS = [
    (f"/api/v1/projects/{P}/evidence", "cursor", {}),
    (f"/api/v1/projects/{P}/evidence", "since", {}),
    (f"/api/v1/projects/{P}/evidence", "until", {}),
    (f"/api/v1/projects/{P}/evidence", "limit", {}),
    (f"/api/v1/projects/{P}/evidence", "cursor", {"subject": DIGEST}),
    (f"/api/v1/projects/{P}/graph", "depth", {"subject": DIGEST}),
    (f"/api/v1/projects/{P}/audit", "since", {}),
    (f"/api/v1/projects/{P}/audit", "after", {}),
    (f"/api/v1/projects/{P}/audit", "limit", {}),
    ("/api/v1/audit", "since", {}),
    ("/api/v1/audit", "after", {}),
    ("/api/v1/audit", "limit", {}),
    (f"/api/v1/projects/{P}/history", "before", {}),
    (f"/api/v1/projects/{P}/history", "limit", {}),
    (f"/api/v1/projects/{P}/history", "since", {}),
]
LOG_PARAMS = [
    ("/api/v1/log/entries", "logIndex", {}, "bad-index"),
    ("/api/v1/log/proof", "firstSize", {"lastSize": "0"}, "bad-tree-size"),
    ("/api/v1/log/proof", "lastSize", {}, "bad-tree-size"),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectServer]:
    gen = fresh_database(request.param)
    ps = project_server(tmp_path_factory.mktemp("numbers"), next(gen), P, "ci@acme.test")
    try:
        yield ps
    finally:
        ps.srv.stop()
        gen.close()


def _get(ps: ProjectServer, path: str, query: dict[str, str]) -> httpx.Response:
    return httpx.get(ps.url + path, params=query, headers=ps.auth(), timeout=60)


def _refused(r: httpx.Response, reason: str, what: object) -> None:
    assert r.status_code == 400, (what, r.status_code, r.text[:300])
    doc = r.json()
    assert set(doc) == {"code", "reason", "message"} and doc["code"] == 400, (what, doc)
    assert doc["reason"] == reason, (what, doc)
    assert len(doc["message"]) < 400, (what, "the message must not echo 5,000 digits")


@pytest.mark.parametrize(("path", "name", "extra"), EVIDENCE_PARAMS)
def test_hostile_numbers_are_400_invalid_parameter(srv: ProjectServer, path: str, name: str, extra: dict) -> None:
    for value in HOSTILE:
        _refused(_get(srv, path, {**extra, name: value}), "invalid-parameter", (path, name, value[:20]))


@pytest.mark.parametrize(("path", "name", "extra", "reason"), LOG_PARAMS)
def test_log_numbers_keep_their_documented_reasons(
    srv: ProjectServer, path: str, name: str, extra: dict, reason: str
) -> None:
    for value in [v for v in HOSTILE if v != str(MAX_SAFE + 1)] + [str(2**63)]:
        _refused(_get(srv, path, {**extra, name: value}), reason, (path, name, value[:20]))


def test_numbers_at_the_edges_of_their_ranges_are_answered(srv: ProjectServer) -> None:
    ev = f"/api/v1/projects/{P}/evidence"
    for query in (
        {"cursor": str(MAX_SAFE)},
        {"cursor": "0"},
        {"cursor": "0" * 40 + "7"},  # leading zeros are still the number 7
        {"since": "0", "until": str(MAX_SAFE)},
        {"since": "2026-01-31T10:00:00Z", "until": "2026-02-01"},
        {"since": "0001-01-01T00:00:00+01:00"},  # before the epoch: from the beginning
        {"since": "9999-12-31T23:59:59-12:00"},
        {"limit": "1"},
        {"limit": "1000"},
        {"subject": DIGEST, "cursor": str(MAX_SAFE)},
    ):
        r = _get(srv, ev, query)
        assert r.status_code == 200, (query, r.text)
        assert r.json() == {"items": [], "next": None}, query
    for query in ({"limit": "0"}, {"limit": "1001"}, {"since": "2026-02-30"}, {"until": "yesterday"}):
        _refused(_get(srv, ev, query), "invalid-parameter", query)
    assert _get(srv, f"/api/v1/projects/{P}/graph", {"subject": DIGEST, "depth": "10"}).status_code == 200
    _refused(_get(srv, f"/api/v1/projects/{P}/graph", {"subject": DIGEST, "depth": "11"}), "invalid-parameter", 11)
    audit = _get(srv, "/api/v1/audit", {"since": str(MAX_SAFE), "after": str(MAX_SAFE), "limit": "10000"})
    assert audit.status_code == 200 and audit.json()["rows"] == [], audit.text
    assert _get(srv, "/api/v1/audit", {"limit": "1"}).json()["rows"][0]["seq"] >= 1
    r = _get(srv, "/api/v1/log/entries", {"logIndex": str(2**63 - 1)})
    assert r.status_code == 404, r.text


def test_tile_indexes_at_their_extreme(srv: ProjectServer) -> None:
    for path in ("entries/x999/x999/x999/x999/x999/x999/999", "0/x999/x999/x999/x999/x999/x999/999.p/5"):
        r = httpx.get(f"{srv.url}/tile/{path}", timeout=30)
        assert r.status_code in (400, 404), (path, r.text)
        assert r.json()["code"] == r.status_code


def test_huge_content_length_is_not_a_500(srv: ProjectServer, tmp_path: Path) -> None:
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(srv.url)
    for length in ("9" * 5000, "1" * 20, "²"):
        with socket.create_connection((u.hostname, u.port), timeout=30) as s:
            s.sendall(
                f"POST /api/v1/projects/{P}/evidence HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()
            )
            status = s.recv(200).split(b" ", 2)[1]
        assert status in (b"400", b"401", b"413"), (length[:20], status)
