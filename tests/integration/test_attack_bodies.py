"""Issue 22 item 4: JSON bodies of the evidence and repository routes with the wrong types (real server, both DBs).

Found: ``PUT /trust`` answered 500 for a non-string ``identityRegExp``/``issuerRegExp`` (``re.compile(1)``).
Now every field of every evidence/repository body is checked by type before anything is stored: 400 with
``trust-malformed``, ``bad-retention``, ``policy-invalid``, ``bad-name`` or ``bad-search`` (a NUL in a log
search's email or hash was a PostgreSQL 500), never 500, and a refused body leaves the settings as they were.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.accesskit import ProjectServer, fresh_database, project_server

P = "acme"
# what a hostile client puts where a string belongs
NOT_STRINGS: list[object] = [1, 1.5, True, None, [], ["x"], {}, {"a": "b"}, ""]
GOOD_IDENTITY = {"identity": "ci@acme.test", "issuer": "https://issuer.example"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectServer]:
    gen = fresh_database(request.param)
    ps = project_server(tmp_path_factory.mktemp("bodies"), next(gen), P, "ci@acme.test")
    try:
        yield ps
    finally:
        ps.srv.stop()
        gen.close()


def _put(ps: ProjectServer, path: str, body: object) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.put(f"{ps.url}/api/v1/projects/{P}{path}", content=content, headers=ps.auth(), timeout=30)


def _refused(r: httpx.Response, reasons: set[str], what: object) -> None:
    assert r.status_code == 400, (what, r.status_code, r.text[:300])
    doc = r.json()
    assert set(doc) == {"code", "reason", "message"} and doc["reason"] in reasons, (what, doc)


def _trust(ps: ProjectServer) -> dict:
    r = httpx.get(f"{ps.url}/api/v1/projects/{P}/trust", headers=ps.auth(), timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_trust_fields_of_the_wrong_type_are_400(srv: ProjectServer) -> None:
    r = _put(srv, "/trust", {"identities": [GOOD_IDENTITY]})
    assert r.status_code == 200, r.text
    before = _trust(srv)
    bodies: list[object] = []
    for value in NOT_STRINGS:
        for field in ("identityRegExp", "issuerRegExp", "identity", "issuer"):
            bodies.append({"identities": [{**GOOD_IDENTITY, field: value}]})
        bodies.append({"keys": [value]})
    bodies += [
        {"identities": [{**GOOD_IDENTITY, "identityRegexp": ".*"}]},  # misspelt: it would have been ignored
        {"identities": [{**GOOD_IDENTITY, "extensions": {"x": "y"}}]},
        {"identities": [GOOD_IDENTITY] * 257},
        {"identities": GOOD_IDENTITY},
        {"identities": "ci@acme.test"},
        {"identities": None},
        {"identities": [1]},
        {"keys": "-----BEGIN PUBLIC KEY-----"},
        {"keys": None},
        {"keys": {"k": "v"}},
        {"trustedRoot": 1},
        {"trustedRoot": "{}"},
        {"trustedRoot": []},
        {"trustedRoot": True},
        {"trustedRoot": {}},
        {"trustedRoot": {"mediaType": 5}},
        {"trust": []},
        [],
        None,
        "trust",
    ]
    reasons = {"trust-malformed", "identity-required", "issuer-required", "json-invalid", "malformed-key"}
    reasons |= {"malformed-field", "unknown-trusted-root-media-type", "bad-regexp"}
    for body in bodies:
        _refused(_put(srv, "/trust", body), reasons, body if not isinstance(body, dict) else list(body.items())[:1])
    # the 500 of the issue, by name
    for value in (1, [".*"], {"re": ".*"}, None):
        r = _put(srv, "/trust", {"identities": [{"identityRegExp": value, "issuer": "https://i.example"}]})
        _refused(r, {"trust-malformed"}, value)
        r = _put(srv, "/trust", {"identities": [{"identity": "a@b.example", "issuerRegExp": value}]})
        _refused(r, {"trust-malformed"}, value)
    _refused(_put(srv, "/trust", {"identities": [{"identityRegExp": "(", "issuer": "i"}]}), {"bad-regexp"}, "(")
    _refused(_put(srv, "/trust", {"identities": [{**GOOD_IDENTITY, "identity": "a\x00@b"}]}), {"trust-malformed"}, 0)
    # a pattern that backtracks exponentially would stall every verification of the project: refused when stored
    for pattern in (r"(a+)+@x\.example", r"(\w+\s?)*$"):
        body = {"identities": [{"identityRegExp": pattern, "issuer": "https://i.example"}]}
        _refused(_put(srv, "/trust", body), {"identity-regexp-unsafe"}, pattern)
    assert _trust(srv) == before  # nothing stored by any refused body


def test_retention_and_policy_bodies_of_the_wrong_type_are_400(srv: ProjectServer) -> None:
    for body in (b"[]", b"null", b"5", b'"x"', b"{", b'{"unverifiedRetentionDays": null, "x": 1}'):
        _refused(_put(srv, "/retention", body), {"bad-retention", "json-invalid"}, body)
    bodies: list[object] = [
        {"policy": value} for value in NOT_STRINGS if not isinstance(value, str)
    ]  # fmt: skip
    bodies += [
        {"policy": "x", "files": value} for value in NOT_STRINGS if not isinstance(value, dict)
    ]  # fmt: skip
    bodies += [{"policy": "x", "files": {"k.pub": value}} for value in NOT_STRINGS if not isinstance(value, str)]
    bodies += [{"policy": "x", "extra": 1}, [], None]
    for body in bodies:
        _refused(_put(srv, "/repository/policy", body), {"policy-invalid", "json-invalid"}, body)
    for name in ("../k.pub", "a/b", "/etc/passwd", ".hidden", "x" * 300, "a\x00b", "policy.yaml", "..", "", "a b"):
        r = _put(srv, "/repository/policy", {"policy": "x", "files": {name: "text"}})
        _refused(r, {"bad-name"}, name[:20])
    r = _put(srv, "/repository/policy", {"policy": "x", "files": {f"f{i}": "t" for i in range(65)}})
    _refused(r, {"policy-invalid"}, "65 files")


def test_log_search_bodies_of_the_wrong_type_are_400(srv: ProjectServer) -> None:
    url = srv.url + "/api/v1/index/retrieve"
    for body in (
        {"hash": 5},
        {"hash": ["sha256:" + "a" * 64]},
        {"hash": "sha256:" + "a" * 63},
        {"publicKey": "x"},
        {"publicKey": {"format": "x509", "content": 5}},
        {"publicKey": {"format": "x509", "content": "!!"}},
        {"publicKey": {"format": ["x509"]}},
        {"email": 5},
        {"email": "a@b\x00"},  # PostgreSQL refuses NUL in text: it was a 500
        {"email": "a@b\n"},
        {"email": "a@" + "b" * 400},
        {"hash": "sha256:" + "\x00" * 64},
        {"hash": "sha256:" + "z" * 64},
        {"email": ["a@b"]},
        {"email": "a@b", "operator": ["or"]},
        {"email": "a@b", "operator": 1},
        {},
        [],
    ):
        r = httpx.post(url, content=json.dumps(body).encode(), timeout=30)
        _refused(r, {"bad-search", "unsupported-key-format", "json-invalid"}, body)


def test_nul_in_access_bodies_and_token_ids_is_400(srv: ProjectServer) -> None:
    """Found probing: a NUL in a grant's issuer/subject, a token's name or a token id was a PostgreSQL 500."""
    for path, body in (
        ("/grants", {"issuer": "https://i.example\x00", "subject": "x@y.example", "role": "viewer"}),
        ("/grants", {"issuer": "https://i.example", "subject": "x\x00@y.example", "role": "viewer"}),
        ("/grants", {"issuer": "https://i.example", "subject": "x" * 3000, "role": "viewer"}),
        ("/grants/revoke", {"issuer": "https://i.example", "subject": "x\x00@y.example"}),
        ("/tokens", {"role": "viewer", "name": "a\x00"}),
        ("/tokens/%00/revoke", None),
        ("/tokens/" + "a" * 200 + "/revoke", None),
    ):
        r = srv.admin("POST", f"/api/v1/projects/{P}{path}", body)
        _refused(r, {"malformed-field"}, path)
    grants = srv.admin.ok("GET", f"/api/v1/projects/{P}/grants")
    assert "x\x00" not in json.dumps(grants)
