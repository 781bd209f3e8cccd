"""The POST bodies parsed by hand (through safejson) are published in /openapi.json, and the document is valid.

The published schema must agree with the server: bodies the schema rejects (too many
indexes, a digest with whitespace, a wrong kind) are refused by the server, and
the examples it accepts are accepted. The strict loader's limits still apply.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from openapi_spec_validator import validate

from assay.log.entries import hashedrekord_proposal
from tests.integration.conftest import ServerProcess

JSON_BODIES = {
    "/api/v1/log/entries": "application/json",
    "/api/v1/log/entries/retrieve": "application/json",
    "/api/v2/signingCert": "application/json",
    "/dev/oidc/token": "application/json",
    "/dev/oidc/{flavour}/token": "application/json",
}
BINARY_BODIES = {"/api/v1/timestamp": "application/timestamp-query"}
KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("openapi") / "data", None, extra=["--dev"]).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def doc(srv: ServerProcess) -> dict[str, Any]:
    r = httpx.get(srv.url + "/openapi.json", timeout=30)
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def _schema(doc: dict[str, Any], path: str, media_type: str = "application/json") -> dict[str, Any]:
    body = doc["paths"][path]["post"]["requestBody"]
    assert body["required"] is True
    return body["content"][media_type]["schema"]  # type: ignore[no-any-return]


def _proposal(data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).digest()
    return hashedrekord_proposal(KEY.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))), digest, PEM)


def test_document_is_valid_openapi(doc: dict[str, Any]) -> None:
    validate(doc)


def test_every_hand_parsed_post_publishes_its_body(doc: dict[str, Any]) -> None:
    for path, media_type in JSON_BODIES.items():
        schema = _schema(doc, path, media_type)
        assert schema.get("type") == "object" or schema.get("oneOf"), (path, schema)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert "$ref" not in str(schema), f"{path}: references must be inlined"
    for path, media_type in BINARY_BODIES.items():
        assert _schema(doc, path, media_type) == {"type": "string", "format": "binary"}


INT64 = jsonschema.FormatChecker()


@INT64.checks("int64")
def _is_int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def _agrees(srv: ServerProcess, doc: dict[str, Any], path: str, body: dict[str, Any], valid: bool) -> int:
    """The schema's verdict on ``body`` is ``valid``, and the server's agrees; returns the status."""
    ok = jsonschema.Draft202012Validator(_schema(doc, path), format_checker=INT64).is_valid(body)
    assert ok is valid, (path, body)
    status = httpx.post(srv.url + path.replace("{flavour}", "github"), json=body, timeout=30).status_code
    assert (status < 400) is valid, (path, status)
    return status


def test_published_schemas_agree_with_the_server(srv: ServerProcess, doc: dict[str, Any]) -> None:
    entries = "/api/v1/log/entries"
    good = _proposal(b"openapi " + secrets.token_bytes(8))
    assert _agrees(srv, doc, entries, good, True) == 201
    spaced = _proposal(b"spaced " + secrets.token_bytes(8))
    spaced["spec"]["data"]["hash"]["value"] = " " + spaced["spec"]["data"]["hash"]["value"]
    _agrees(srv, doc, entries, spaced, False)
    _agrees(srv, doc, entries, {**good, "kind": "rekord"}, False)

    retrieve = "/api/v1/log/entries/retrieve"
    _agrees(srv, doc, retrieve, {"logIndexes": [0, 1]}, True)
    _agrees(srv, doc, retrieve, {"logIndexes": list(range(11))}, False)
    _agrees(srv, doc, retrieve, {"logIndexes": [2**63]}, False)
    _agrees(srv, doc, retrieve, {"hash": "sha256:" + "A" * 64}, False)

    _agrees(srv, doc, "/dev/oidc/token", {"email": "a@example.com", "expiresIn": 60}, True)
    _agrees(srv, doc, "/dev/oidc/{flavour}/token", {"repository": "o/r"}, True)
    _agrees(srv, doc, "/dev/oidc/token", {"expiresIn": "60"}, False)

    cert = "/api/v2/signingCert"
    _agrees(srv, doc, cert, {"credentials": {"oidcIdentityToken": 5}}, False)


def test_hand_parsing_limits_still_apply(srv: ServerProcess) -> None:
    """FastAPI does not parse these bodies: the strict loader's depth and surrogate limits answer first."""
    deep = b'{"claims": ' + b'{"a": ' * 40 + b"1" + b"}" * 41
    surrogate = b'{"email": "\\ud800@example.com"}'
    for path in JSON_BODIES:
        url = srv.url + path.replace("{flavour}", "github")
        for body, reason in [(deep, "json-too-deep"), (surrogate, "json-invalid")]:
            r = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=30)
            assert r.status_code == 400 and r.json()["reason"] == reason, (path, r.text)
    tsq = httpx.post(srv.url + "/api/v1/timestamp", content=base64.b64encode(b"not DER"), timeout=30)
    assert tsq.status_code == 400, tsq.text
