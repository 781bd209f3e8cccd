"""Issue 22 item 4: the evidence graph is not quadratic (real server, SQLite and PostgreSQL).

Found: one trusted in-toto link with 46,000 products made ``GET /graph`` take 40–68 s — the 2,000-node cap
was checked only after each whole item and duplicate edges were found by scanning a list — and on a public
project anyone could trigger it. Now the cap is enforced as each node is added, nodes and edges are sets,
and an attestation already in the graph is not read again; the answer says ``truncated: true``. (No timing
is asserted; the node count is.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from assay.crypto import keys
from assay.layout import envelope
from tests.integration.accesskit import ProjectServer, fresh_database, project_server

P = "acme"
MAX_NODES = 2000


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectServer]:
    gen = fresh_database(request.param)
    ps = project_server(tmp_path_factory.mktemp("graph"), next(gen), P, "ci@acme.test")
    try:
        yield ps
    finally:
        ps.srv.stop()
        gen.close()


def _hex(i: int, salt: str) -> str:
    return hashlib.sha256(f"{salt}{i}".encode()).hexdigest()


def _link(key: ec.EllipticCurvePrivateKey, products: dict[str, str], materials: dict[str, str]) -> bytes:
    from securesystemslib.signer import CryptoSigner

    doc = {
        "_type": "link",
        "name": "build",
        "command": [],
        "materials": {n: {"sha256": h} for n, h in materials.items()},
        "products": {n: {"sha256": h} for n, h in products.items()},
        "byproducts": {},
        "environment": {},
    }
    return json.dumps(envelope.sign_metablock([CryptoSigner(key)], doc), separators=(",", ":")).encode()


def _trust_key(ps: ProjectServer, key: ec.EllipticCurvePrivateKey) -> None:
    pem = keys.public_pem(key.public_key())
    r = httpx.put(f"{ps.url}/api/v1/projects/{P}/trust", json={"keys": [pem if isinstance(pem, str) else pem.decode()]},
                  headers=ps.auth(), timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text


def _upload(ps: ProjectServer, body: bytes) -> None:
    r = httpx.post(f"{ps.url}/api/v1/projects/{P}/evidence", content=body, headers=ps.auth(ps.publisher), timeout=300)
    assert r.status_code == 201, r.text[:300]


def _graph(ps: ProjectServer, subject: str, depth: int = 2) -> dict:
    r = httpx.get(f"{ps.url}/api/v1/projects/{P}/graph", params={"subject": subject, "depth": str(depth)},
                  headers=ps.auth(), timeout=300)  # fmt: skip
    assert r.status_code == 200, r.text[:300]
    return dict(r.json())


def _check_shape(g: dict) -> None:
    ids = [n["id"] for n in g["nodes"]]
    assert len(ids) == len(set(ids)), "a node appears twice"
    edges = [(e["from"], e["to"], e["relation"]) for e in g["edges"]]
    assert len(edges) == len(set(edges)), "an edge appears twice"
    known = set(ids)
    assert all(a in known and b in known for a, b, _ in edges), "an edge names a node the graph does not have"


def test_a_link_with_46000_products_is_answered_truncated_at_the_cap(srv: ProjectServer, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    _trust_key(srv, key)
    products = {f"p{i}": _hex(i, "product") for i in range(46_000)}
    materials = {f"m{i}": _hex(i, "material") for i in range(500)}
    body = _link(key, products, materials)
    assert len(body) < 4 * 1024 * 1024
    _upload(srv, body)
    g = _graph(srv, "sha256:" + products["p0"])
    assert g["truncated"] is True
    assert len(g["nodes"]) <= MAX_NODES
    _check_shape(g)
    # the same from a material's side (the walk reaches the link and stops at the cap) and at depth 10
    g = _graph(srv, "sha256:" + products["p45999"], depth=10)
    assert g["truncated"] is True and len(g["nodes"]) <= MAX_NODES
    _check_shape(g)


def test_a_small_graph_is_whole_and_each_edge_appears_once(srv: ProjectServer) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    _trust_key(srv, key)
    a, b, c = (_hex(i, "small") for i in range(3))
    # two links naming the same product and material: one node each, one edge per (from, to, relation)
    _upload(srv, _link(key, {"out": a, "out-again": a}, {"src": b}))
    _upload(srv, _link(key, {"out": a}, {"src": b, "lib": c}))
    g = _graph(srv, "sha256:" + a)
    assert g["truncated"] is False
    _check_shape(g)
    ids = {n["id"] for n in g["nodes"]}
    assert {"sha256:" + a, "sha256:" + b, "sha256:" + c} <= ids
    assert sum(1 for n in g["nodes"] if n["type"] == "attestation") == 2
