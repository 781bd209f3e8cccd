"""A GitHub-Actions-shaped CI environment for tests: the runner's ID-token endpoint on loopback.

The endpoint answers as GitHub's does: ``GET <ACTIONS_ID_TOKEN_REQUEST_URL>&audience=AUD`` with
``Authorization: bearer <ACTIONS_ID_TOKEN_REQUEST_TOKEN>`` gives ``{"count": 1, "value": "<JWT>"}``; the JWT is
minted by a ``--dev`` assay server's GitHub-shaped issuer for the requested audience. ``mode`` makes it misbehave.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.conftest import loopback_http
from tests.integration.conftest import ServerProcess, dev_token

REPO = "myorg/myapp"
WORKFLOW = ".github/workflows/release.yml"
REF = "refs/tags/v1.2.3"


@dataclass
class TokenEndpoint:
    """The endpoint's state: how it answers and what it was asked."""

    srv: ServerProcess
    mode: str = "ok"  # ok | http-500 | slow | wrong-audience | no-value
    request_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def env(self) -> dict[str, str]:
        """The variables a GitHub Actions job with ``id-token: write`` sees (plus the usual GITHUB_*)."""
        return {
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_REF": REF,
            "GITHUB_SHA": "0" * 40,
            "GITHUB_WORKFLOW_REF": f"{REPO}/{WORKFLOW}@{REF}",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "42",
            "ACTIONS_ID_TOKEN_REQUEST_URL": self.url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token,
        }


def identity() -> str:
    """The certificate identity the dev issuer's GitHub-shaped tokens give."""
    return f"https://github.com/{REPO}/{WORKFLOW}@{REF}"


@contextlib.contextmanager
def github_token_endpoint(srv: ServerProcess, mode: str = "ok") -> Iterator[TokenEndpoint]:
    """Serve the runner's token endpoint on 127.0.0.1 for the duration of the block."""
    ep = TokenEndpoint(srv, mode)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            q = parse_qs(urlparse(self.path).query)
            ep.requests.append({"auth": self.headers.get("Authorization"), "query": q})
            if self.headers.get("Authorization", "").lower() != f"bearer {ep.request_token}".lower():
                return self._send(401, {"message": "bad request token"})
            if ep.mode == "http-500":
                return self._send(500, {"message": "internal"})
            if ep.mode == "slow":
                time.sleep(3)
            audience = q.get("audience", [""])[0]
            if ep.mode == "wrong-audience":
                audience = "some-other-service"
            if ep.mode == "no-value":
                return self._send(200, {"count": 0})
            token = dev_token(ep.srv, "github", repository=REPO, ref=REF, workflow=WORKFLOW, claims={"aud": audience})
            self._send(200, {"count": 1, "value": token})

        def _send(self, code: int, doc: dict[str, Any]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with loopback_http(Handler) as hostport:
        ep.url = f"http://{hostport}/_apis/distributedtask/hubs/build/plans/x/jobs/y/idtoken?api-version=2.0"
        yield ep
