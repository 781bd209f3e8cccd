"""Issue 14 item 5 across processes: identical appends to several servers on one database.

Exactly one client is told 201 Created; every other one gets 409 ``entry-exists`` with the
same ``Location``; exactly one entry is stored. Run on PostgreSQL (two ``assay server``
processes sharing keys, and ``--workers 2``) and on SQLite (``--workers 2``, one data dir).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from assay.log.entries import hashedrekord_proposal
from tests.integration.conftest import ServerProcess

pytestmark = pytest.mark.slow

KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
CLIENTS = 20
ROUNDS = 3


def _entry(data: bytes) -> tuple[bytes, str]:
    digest = hashlib.sha256(data).digest()
    body = hashedrekord_proposal(KEY.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))), digest, PEM)
    return json.dumps(body).encode(), digest.hex()


def _race(urls: list[str], body: bytes) -> list[httpx.Response]:
    """CLIENTS clients, spread over ``urls``, post ``body`` at the same moment."""
    clients = [httpx.Client(base_url=urls[i % len(urls)], timeout=60) for i in range(CLIENTS)]
    for c in clients:  # open the connections first so the posts start together
        c.get("/healthz")
    barrier = threading.Barrier(CLIENTS)

    def post(c: httpx.Client) -> httpx.Response:
        barrier.wait()
        return c.post("/api/v1/log/entries", content=body, headers={"Content-Type": "application/json"})

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            return list(pool.map(post, clients))
    finally:
        for c in clients:
            c.close()


def _assert_one_created(urls: list[str], expected_size: int) -> None:
    body, digest = _entry(b"race " + secrets.token_bytes(8))
    answers = _race(urls, body)
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] + [409] * (CLIENTS - 1), statuses
    created = next(r for r in answers if r.status_code == 201)
    uuid = next(iter(created.json()))
    for r in answers:
        assert r.headers["Location"] == f"/api/v1/log/entries/{uuid}", r.headers
        if r.status_code == 409:
            assert r.json()["reason"] == "entry-exists"
    for url in urls:
        assert httpx.get(url + "/api/v1/log").json()["treeSize"] == expected_size
        found = httpx.post(url + "/api/v1/log/entries/retrieve", json={"hash": "sha256:" + digest}).json()
        assert [next(iter(e)) for e in found] == [uuid]


@pytest.fixture
def two_on_postgres(tmp_path: Path, pg_database: str) -> Iterator[list[str]]:
    a = ServerProcess(tmp_path / "a", pg_database).start()
    (tmp_path / "b").mkdir()
    shutil.copytree(tmp_path / "a" / "keys", tmp_path / "b" / "keys")
    b = ServerProcess(tmp_path / "b", pg_database).start()
    try:
        yield [a.url, b.url]
    finally:
        a.stop()
        b.stop()


def test_two_servers_on_postgres_one_created(two_on_postgres: list[str]) -> None:
    for size in range(1, ROUNDS + 1):
        _assert_one_created(two_on_postgres, size)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_workers_one_created(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    database = request.getfixturevalue("pg_database") if backend == "postgresql" else None
    srv = ServerProcess(tmp_path / "data", database, workers=2).start()
    try:
        for size in range(1, ROUNDS + 1):
            _assert_one_created([srv.url], size)
    finally:
        srv.stop()
