"""Framework-level errors (no route, wrong method, a request FastAPI itself refuses) answer in the project's
error shape ``{"code", "reason", "message"}`` with a stable reason, through a real server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from assay.server.app import http_reason
from tests.integration.conftest import ServerProcess


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("errors") / "data", None).start()
    try:
        yield server
    finally:
        server.stop()


def _error(r: httpx.Response) -> dict[str, object]:
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"code", "reason", "message"}, body  # never FastAPI's bare {"detail": ...}
    assert body["code"] == r.status_code
    return dict(body)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_unknown_route(srv: ServerProcess, method: str) -> None:
    r = httpx.request(method, srv.url + "/api/v1/no-such-thing", timeout=30)
    assert r.status_code == 404
    assert _error(r) == {"code": 404, "reason": "unknown-route", "message": "no route /api/v1/no-such-thing"}


def test_method_not_allowed_keeps_allow_header(srv: ServerProcess) -> None:
    r = httpx.delete(srv.url + "/api/v1/log", timeout=30)
    assert r.status_code == 405
    assert r.headers["allow"] == "GET"
    assert _error(r) == {
        "code": 405,
        "reason": "method-not-allowed",
        "message": "DELETE is not allowed on /api/v1/log; allowed: GET",
    }


def test_request_validation_error(srv: ServerProcess) -> None:
    r = httpx.get(srv.url + "/api/v1/log/entries", timeout=30)  # the required logIndex query parameter is missing
    assert r.status_code == 400
    assert _error(r) == {"code": 400, "reason": "bad-request", "message": "query.logIndex: Field required"}


def test_known_route_still_answers(srv: ServerProcess) -> None:
    r = httpx.get(srv.url + "/api/v1/log", timeout=30)
    assert r.status_code == 200 and "treeSize" in r.json()


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (404, "unknown-route"),
        (405, "method-not-allowed"),
        (400, "bad-request"),
        (418, "im-a-teapot"),
        (599, "http-error"),
    ],
)
def test_http_reason(status: int, reason: str) -> None:
    assert http_reason(status) == reason
