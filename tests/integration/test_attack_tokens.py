"""Issue 22 item 1, attacked through the HTTP API: a credential cannot outlive or outrank what made it.

The rule (``access.mint``): API tokens do not mint API tokens; only a login session does, never above
the session's role. The attack that found the hole: a publisher's 5-second token creating a token with no
expiry, which kept write access after the first was revoked or expired.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_assay
from tests.integration.accesskit import Api, admin_api, audit_rows, fresh_database, grant, new_project, session, start
from tests.integration.accesskit import unique as unique_name
from tests.integration.conftest import ServerProcess


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    gen = fresh_database(request.param)
    server = start(tmp_path_factory.mktemp("tokens"), next(gen))
    try:
        yield server
    finally:
        server.stop()
        gen.close()


def _refused(r: httpx.Response, status: int, reason: str) -> None:
    assert (r.status_code, r.json().get("reason")) == (status, reason), r.text
    assert set(r.json()) >= {"code", "reason", "message"} and r.json()["code"] == status


def _publisher(srv: ServerProcess) -> tuple[Api, Api, str]:
    admin = admin_api(srv)
    project = new_project(admin)
    email = unique_name("pub") + "@example.com"
    grant(admin, project, email, "publisher")
    return admin, Api(srv, session(srv, email)), project


def test_a_short_lived_token_cannot_make_a_lasting_one(srv: ServerProcess) -> None:
    admin, publisher, project = _publisher(srv)
    base = f"/api/v1/projects/{project}"
    first = publisher.ok("POST", f"{base}/tokens", {"role": "publisher", "expires": "5s", "name": "short"})
    short = Api(srv, first["token"])
    for body in (
        {"role": "publisher", "name": "forever"},  # no expiry: the attack
        {"role": "publisher", "expires": "1s"},  # shorter and not stronger: still a token minting a token
        {"role": "viewer", "expires": "5s"},
    ):
        _refused(short("POST", f"{base}/tokens", body), 403, "token-cannot-mint")
    # a refused creation leaves no token row
    assert [t["id"] for t in admin.ok("GET", f"{base}/tokens")["tokens"]] == [first["id"]]
    refusals = [r for r in audit_rows(admin) if r["action"] == "token.create" and r["token_id"] == first["id"]]
    assert [r["result"] for r in refusals] == ["refused:403:token-cannot-mint"] * 3
    # revoking the first leaves nothing behind that still writes
    publisher.ok("POST", f"{base}/tokens/{first['id']}/revoke")
    _refused(short("GET", base), 401, "token-revoked")
    # and one left to expire leaves nothing behind either
    second = publisher.ok("POST", f"{base}/tokens", {"role": "publisher", "expires": "2s"})
    _refused(Api(srv, second["token"])("POST", f"{base}/tokens", {"role": "publisher"}), 403, "token-cannot-mint")
    time.sleep(2.2)
    _refused(Api(srv, second["token"])("GET", base), 401, "token-expired")
    live = [t for t in admin.ok("GET", f"{base}/tokens")["tokens"] if t["revoked"] is None]
    assert [t["id"] for t in live] == [second["id"]]  # only the expired one: no child of either


def test_no_token_mints_not_even_an_admins_or_a_server_admins(srv: ServerProcess) -> None:
    admin = admin_api(srv)
    project = new_project(admin)
    base = f"/api/v1/projects/{project}"
    email = unique_name("lead") + "@example.com"
    grant(admin, project, email, "admin")
    for maker in (Api(srv, session(srv, email)), admin):
        token = Api(srv, maker.ok("POST", f"{base}/tokens", {"role": "admin", "expires": "1h"})["token"])
        assert token.ok("GET", base)["role"] == "admin"  # the token itself works ...
        _refused(token("POST", f"{base}/tokens", {"role": "viewer", "expires": "1m"}), 403, "token-cannot-mint")
    # ... and made nothing: the two tokens the sessions made are all there is
    assert len(admin.ok("GET", f"{base}/tokens")["tokens"]) == 2


def test_a_session_makes_tokens_only_within_its_role_and_lifetime(srv: ServerProcess) -> None:
    admin, publisher, project = _publisher(srv)
    base = f"/api/v1/projects/{project}"
    _refused(publisher("POST", f"{base}/tokens", {"role": "admin"}), 403, "role-above-own")
    _refused(publisher("POST", f"{base}/tokens", {"role": "policy_writer"}), 403, "role-above-own")
    _refused(publisher("POST", f"{base}/tokens", {"role": "viewer", "expires": "367d"}), 400, "bad-duration")
    _refused(publisher("POST", f"{base}/tokens", {"role": "owner"}), 400, "unknown-role")
    assert admin.ok("GET", f"{base}/tokens")["tokens"] == []
    made = publisher.ok("POST", f"{base}/tokens", {"role": "publisher", "expires": "30d"})
    assert made["role"] == "publisher" and made["expires"] > time.time() + 29 * 86400


def test_the_cli_says_why(srv: ServerProcess, tmp_path: Path) -> None:
    _, publisher, project = _publisher(srv)
    token = publisher.ok("POST", f"/api/v1/projects/{project}/tokens", {"role": "publisher", "expires": "1h"})
    r = run_assay("token", "create", "--project", project, "--role", "viewer", "--server", srv.url,
                  "--token", token["token"], env={"XDG_CONFIG_HOME": str(tmp_path)})  # fmt: skip
    assert r.code == 2 and "error[token-cannot-mint]" in r.err, r.err
