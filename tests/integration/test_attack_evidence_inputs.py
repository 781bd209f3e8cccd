"""Issue 22 item 4: evidence uploads and search attacked as a hostile client would (real server, both DBs).

Found and fixed here:
- a DSSE statement with malformed subject digests (``sha256:abc``, ``sha256:../..``) was stored as verified;
  now it is refused at parse, 400 ``subject-digest-invalid``, with or without ``accept=unverified`` (such a
  digest can never match an artifact: ``verify-blob`` answers ``subject-digest-mismatch`` for it);
- search answered one digest per subject name, dropping the others when two subjects share a name;
- probes of cross-project access (another project's evidence by digest, by subject, by cursor; names with
  ``..`` and encoded slashes), pagination and search parameters at their extremes, NUL and control
  characters in search strings (PostgreSQL refuses NUL in text: it was a 500).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from assay.crypto import keys
from assay.formats.dsse import pae
from tests.integration.accesskit import ProjectServer, fresh_database, grant, project_server

P = "acme"
OTHER = "other"
PAYLOAD_TYPE = "application/vnd.in-toto+json"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectServer]:
    gen = fresh_database(request.param)
    ps = project_server(tmp_path_factory.mktemp("evidence-inputs"), next(gen), P, "ci@acme.test")
    try:
        ps.admin.ok("POST", "/api/v1/projects", {"name": OTHER})
        yield ps
    finally:
        ps.srv.stop()
        gen.close()


@pytest.fixture(scope="module")
def key(srv: ProjectServer) -> ec.EllipticCurvePrivateKey:
    """A key both projects trust."""
    k = ec.generate_private_key(ec.SECP256R1())
    for project in (P, OTHER):
        r = httpx.put(f"{srv.url}/api/v1/projects/{project}/trust", json={"keys": [keys.public_pem(k.public_key()).decode()]},
                      headers=srv.auth(), timeout=30)  # fmt: skip
        assert r.status_code == 200, r.text
    return k


def _dsse(k: ec.EllipticCurvePrivateKey, subjects: list[dict]) -> bytes:
    st = {"_type": "https://in-toto.io/Statement/v1", "subject": subjects,
          "predicateType": "https://x.test/p", "predicate": {"n": secrets.token_hex(4)}}  # fmt: skip
    payload = json.dumps(st).encode()
    sig = k.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    env = {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode(),
           "signatures": [{"sig": base64.b64encode(sig).decode()}]}  # fmt: skip
    return json.dumps(env).encode()


def _api(srv: ProjectServer, path: str, project: str = P) -> str:
    return f"{srv.url}/api/v1/projects/{project}{path}"


def _upload(srv: ProjectServer, body: bytes, project: str = P, **params: str) -> httpx.Response:
    return httpx.post(_api(srv, "/evidence", project), content=body, params=params, headers=srv.auth(), timeout=60)


def _search(srv: ProjectServer, project: str = P, **params: str) -> httpx.Response:
    return httpx.get(_api(srv, "/evidence", project), params=params, headers=srv.auth(), timeout=30)


def _items(srv: ProjectServer, project: str = P, **params: str) -> list[dict]:
    r = _search(srv, project, **params)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _sha() -> str:
    return secrets.token_hex(32)


# ---- malformed subject digests (item 5) ----------------------------------------------------

MALFORMED = [
    {"sha256": "abc"},
    {"sha256": "../.."},
    {"sha256": "../../../../etc/passwd"},
    {"sha256": "ab" * 31 + "zz"},
    {"sha256": "ab" * 32 + "a"},
    {"sha256": "a" * 63},
    {"sha256": "ab" * 32 + "%2f"},
    {"sha256": " " + "ab" * 32},
    {"sha512": "ab" * 32},  # a SHA-256's length under sha512
    {"gitCommit": "ab" * 10 + "a"},
    {"sha256": "ab" * 32, "md5": "00"},  # one bad digest among good ones
    {"../x": "ab" * 32},  # the algorithm is a path
    {"": "ab" * 32},
    {"shake256": "ab" * 200},  # longer than any digest
    {"sha256": ""},
]


@pytest.mark.parametrize("digest", MALFORMED, ids=[json.dumps(d)[:40] for d in MALFORMED])
def test_malformed_subject_digests_are_refused_and_nothing_is_stored(srv, key, digest: dict) -> None:
    body = _dsse(key, [{"name": "app.bin", "digest": digest}])
    for params in ({}, {"accept": "unverified"}):
        r = _upload(srv, body, **params)
        assert r.status_code == 400, (digest, r.text)
        assert r.json()["reason"] == "subject-digest-invalid", r.json()
    item = "sha256:" + hashlib.sha256(body).hexdigest()
    assert httpx.get(_api(srv, f"/evidence/{item}"), headers=srv.auth(), timeout=30).status_code == 404


def test_well_formed_digests_of_every_kind_are_stored(srv, key) -> None:
    subjects = [
        {"name": "a", "digest": {"sha256": _sha().upper()}},  # upper-case hex is the same digest
        {"name": "b", "digest": {"gitCommit": "ab" * 20}},
        {"name": "c", "digest": {"sha512": "cd" * 64, "sha256": _sha()}},
        {"name": "d", "digest": {"shake256": "ef" * 48}},  # an algorithm of no fixed length: hex, bounded
    ]
    r = _upload(srv, _dsse(key, subjects))
    assert r.status_code == 201 and r.json()["items"][0]["verified"] is True, r.text
    found = _items(srv, subject="gitcommit:" + "ab" * 20)
    assert len(found) == 1
    assert _items(srv, subject="sha256:" + subjects[0]["digest"]["sha256"].lower()) == found


# ---- subjects sharing a name (item 6) -----------------------------------------------------


def test_subjects_sharing_a_name_keep_every_digest(srv, key) -> None:
    one, two, three = _sha(), _sha(), "aa" * 64
    body = _dsse(key, [
        {"name": "app", "digest": {"sha256": one}},
        {"name": "app", "digest": {"sha256": two, "sha512": three}},
    ])  # fmt: skip
    r = _upload(srv, body)
    assert r.status_code == 201, r.text
    assert r.json()["items"][0]["subjects"] == sorted([f"sha256:{one}", f"sha256:{two}", f"sha512:{three}"])
    by_one, by_two = _items(srv, subject=f"sha256:{one}"), _items(srv, subject=f"sha256:{two}")
    assert len(by_one) == 1 and by_one == by_two == _items(srv, subject=f"sha512:{three}")
    subjects = by_one[0]["subjects"]
    assert all(s["name"] == "app" for s in subjects)
    shas = sorted(s["digest"]["sha256"] for s in subjects)
    assert shas == sorted([one, two]), subjects  # before: one of them was dropped
    assert sum(len(s["digest"]) for s in subjects) == 3
    graph = httpx.get(_api(srv, "/graph"), params={"subject": f"sha256:{one}"}, headers=srv.auth(), timeout=30)
    ids = {n["id"] for n in graph.json()["nodes"]}
    assert {f"sha256:{one}", f"sha256:{two}", f"sha512:{three}"} <= ids


# ---- cross-project access (item 7) ----------------------------------------------------------


def test_another_projects_evidence_cannot_be_reached(srv, key) -> None:
    subject = _sha()
    body = _dsse(key, [{"name": "secret", "digest": {"sha256": subject}}])
    assert _upload(srv, body, OTHER).status_code == 201
    item = "sha256:" + hashlib.sha256(body).hexdigest()
    assert httpx.get(_api(srv, f"/evidence/{item}", OTHER), headers=srv.auth(), timeout=30).status_code == 200
    # the admin of both reads it through acme: nothing
    assert httpx.get(_api(srv, f"/evidence/{item}"), headers=srv.auth(), timeout=30).status_code == 404
    assert _items(srv, subject=f"sha256:{subject}") == []
    g = httpx.get(_api(srv, "/graph"), params={"subject": f"sha256:{subject}"}, headers=srv.auth(), timeout=30)
    assert [n["id"] for n in g.json()["nodes"]] == [f"sha256:{subject}"]
    # a member of acme only (the publisher) gets nothing of other, and the same 404 as for a missing project
    pub = srv.auth(srv.publisher)
    for path in (f"/evidence/{item}", "/evidence", f"/graph?subject=sha256:{subject}", "/trust"):
        r = httpx.get(_api(srv, path, OTHER), headers=pub, timeout=30)
        missing = httpx.get(_api(srv, path, "no-such-project"), headers=pub, timeout=30)
        assert (r.status_code, missing.status_code) == (404, 404), (path, r.text)
        assert r.json()["reason"] == missing.json()["reason"] == "unknown-project"
    # a cursor taken from other's ids pages acme's own items only
    ids_in_other = [i["digest"] for i in _items(srv, OTHER, limit="1000")]
    for cursor in ("0", "1", "2"):
        assert not {i["digest"] for i in _items(srv, cursor=cursor, limit="1000")} & set(ids_in_other)


def test_the_same_bytes_in_two_projects_stay_apart(srv) -> None:
    """Shared content-addressed blob: one project's retention never deletes the other's copy."""
    st = {"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://x.test/p", "predicate": {},
          "subject": [{"name": "a", "digest": {"sha256": _sha()}}]}  # fmt: skip
    env = {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(json.dumps(st).encode()).decode(),
           "signatures": [{"sig": base64.b64encode(b"x" * 64).decode()}]}  # fmt: skip
    body = json.dumps(env).encode()
    item = "sha256:" + hashlib.sha256(body).hexdigest()
    project = "shared-" + secrets.token_hex(3)
    srv.admin.ok("POST", "/api/v1/projects", {"name": project})
    for p in (OTHER, project):
        assert _upload(srv, body, p, accept="unverified").status_code == 201
    r = httpx.put(_api(srv, "/retention", project), json={"unverifiedRetentionDays": 0}, headers=srv.auth(), timeout=30)
    assert r.status_code == 200, r.text
    assert httpx.get(_api(srv, f"/evidence/{item}", project), headers=srv.auth(), timeout=30).status_code == 404
    kept = httpx.get(_api(srv, f"/evidence/{item}", OTHER), headers=srv.auth(), timeout=30)
    assert kept.status_code == 200 and kept.content == body


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/..%2Fother/evidence",
        "/api/v1/projects/acme%2F..%2Fother/evidence",
        "/api/v1/projects/acme%2Fother/evidence",
        "/api/v1/projects/%2e%2e/evidence",
        "/api/v1/projects/ACME/evidence",
        "/api/v1/projects/acme%00/evidence",
        "/api/v1/projects/acme/evidence/..%2F..%2Fother%2Fevidence",
        "/api/v1/projects/acme/evidence/sha256:..%2F..%2F",
        "/api/v1/projects/acme/evidence/sha512:" + "ab" * 64,
        "/api/v1/projects/acme/evidence/" + "a" * 5000,
        "/api/v1/projects/acme/graph?subject=..%2F..%2Fetc",
        "/api/v1/projects/acme/graph?subject=sha256:abc",
        "/api/v1/projects/" + "a" * 200 + "/evidence",
    ],
)
def test_crafted_names_and_digests_are_refused(srv, path: str) -> None:
    r = httpx.get(srv.url + path, headers=srv.auth(), timeout=30)
    assert r.status_code in (400, 404), (path, r.status_code, r.text[:200])
    doc = r.json()
    assert set(doc) == {"code", "reason", "message"} and doc["code"] == r.status_code
    assert "secret" not in r.text


# ---- search parameters and pagination at their extremes ------------------------------------


def test_search_strings_at_their_extremes_are_answered_or_refused(srv) -> None:
    for params in (
        {"predicateType": "\x00"},
        {"signer": "key:\x00"},
        {"predicateType": "x" * 20000},
        {"signer": "%"},
        {"signer": "*"},
        {"predicateType": "' OR 1=1 --"},
        {"subject": "sha256:\x00"},
        {"subject": "x" * 5000},
        {"subject": "sha256:" + "ab" * 32, "status": "\x00"},
        {"status": "all"},
    ):
        r = _search(srv, **params)
        assert r.status_code in (200, 400), (next(iter(params.values()))[:20], r.status_code, r.text[:200])
        if any("\x00" in v for v in params.values()):
            assert r.status_code == 400, params  # PostgreSQL refuses NUL in text: it was a 500
        if r.status_code == 200:
            assert r.json()["items"] == [], params
        else:
            assert r.json()["reason"] in ("invalid-parameter", "bad-digest", "bad-request"), r.json()
    for params in ({"actor": "\x00"}, {"project": "\x00"}, {"actor": "x" * 20000}, {"actor": "a\nb"}):
        r = httpx.get(srv.url + "/api/v1/audit", params=params, headers=srv.auth(), timeout=30)
        assert r.status_code == 400 and r.json()["reason"] == "invalid-parameter", (params, r.text[:200])


def test_pagination_reaches_every_item_once_at_any_page_size(srv, key) -> None:
    project = "pages-" + secrets.token_hex(3)
    srv.admin.ok("POST", "/api/v1/projects", {"name": project})
    r = httpx.put(_api(srv, "/trust", project), json={"keys": [keys.public_pem(key.public_key()).decode()]},
                  headers=srv.auth(), timeout=30)  # fmt: skip
    assert r.status_code == 200
    subject = _sha()
    uploaded = set()
    for _ in range(5):
        body = _dsse(key, [{"name": "s", "digest": {"sha256": subject}}])
        assert _upload(srv, body, project).status_code == 201
        uploaded.add("sha256:" + hashlib.sha256(body).hexdigest())
    for extra in ({}, {"subject": f"sha256:{subject}"}):
        for limit in ("1", "2", "1000"):
            seen: list[str] = []
            cursor = None
            while True:
                params = {"limit": limit, **extra, **({"cursor": cursor} if cursor else {})}
                doc = _search(srv, project, **params).json()
                seen += [i["digest"] for i in doc["items"]]
                assert len(doc["items"]) <= int(limit)
                cursor = doc["next"]
                if cursor is None:
                    break
            assert sorted(seen) == sorted(uploaded), (extra, limit)
    for limit in ("0", "1001", str(2**64)):
        assert _search(srv, project, limit=limit).json()["reason"] == "invalid-parameter"


def test_a_member_without_write_cannot_upload(srv, key) -> None:
    grant(srv.admin, OTHER, "viewer@acme.test", "viewer")
    from tests.integration.accesskit import Api, session

    viewer = Api(srv.srv, session(srv.srv, "viewer@acme.test"))
    r = httpx.post(_api(srv, "/evidence", OTHER), content=_dsse(key, [{"name": "v", "digest": {"sha256": _sha()}}]),
                   headers={"Authorization": f"Bearer {viewer.bearer}"}, timeout=30)  # fmt: skip
    assert r.status_code == 403 and r.json()["reason"] == "insufficient-role", r.text


def test_nul_and_control_characters_in_uploaded_strings(srv, key) -> None:
    """PostgreSQL refuses NUL in text: a NUL in a predicate type or subject name must be a 400, not a 500."""
    for subjects, ptype in (
        ([{"name": "a\x00b", "digest": {"sha256": _sha()}}], "https://x.test/p"),
        ([{"name": "a", "digest": {"sha256": _sha()}}], "https://x.test/p\x00"),
        ([{"name": "a\x1b[31m", "digest": {"sha256": _sha()}}], "https://x.test/p\n"),
    ):
        st = {"_type": "https://in-toto.io/Statement/v1", "subject": subjects, "predicateType": ptype, "predicate": {}}
        payload = json.dumps(st).encode()
        sig = key.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
        env = {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode(),
               "signatures": [{"sig": base64.b64encode(sig).decode()}]}  # fmt: skip
        for params in ({}, {"accept": "unverified"}):
            r = _upload(srv, json.dumps(env).encode(), **params)
            assert r.status_code == 400, (subjects[0]["name"], ptype, r.status_code, r.text[:200])
            assert r.json()["reason"] == "statement-malformed", r.json()
