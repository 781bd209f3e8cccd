"""Issue 22 item 2, attacked through the HTTP API: every project always has an admin.

Found: the sole admin could not revoke her own grant (409 ``last-admin``) but could re-grant herself
``viewer``, leaving the project with no admin. The invariant now lives in one function
(``access.projects.keep_an_admin``) inside the write transaction of every grant change: grant (demotion),
revoke, removing an identity, with inherited grants counted; two admins demoting each other at once
cannot both win, even through two server processes whose cached authorisations are both still "admin".
A refused change leaves the grants exactly as they were.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import run_assay
from tests.integration.accesskit import (
    ADMIN,
    Api,
    admin_api,
    fresh_database,
    grant,
    issuer,
    new_project,
    session,
    start,
)
from tests.integration.accesskit import unique as unique_name
from tests.integration.conftest import ServerProcess


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    gen = fresh_database(request.param)
    server = start(tmp_path_factory.mktemp("admins"), next(gen))
    try:
        yield server
    finally:
        server.stop()
        gen.close()


def _refused(r: httpx.Response, status: int, reason: str) -> None:
    assert (r.status_code, r.json().get("reason")) == (status, reason), r.text


def _grants(admin: Api, project: str) -> list[tuple[str, str]]:
    return sorted((g["subject"], g["role"]) for g in admin.ok("GET", f"/api/v1/projects/{project}/grants")["grants"])


def _who(srv: ServerProcess, email: str) -> dict[str, str]:
    return {"issuer": issuer(srv), "subject": email}


def _owned_by(srv: ServerProcess, *emails: str, parent: str | None = None) -> tuple[Api, str, list[Api]]:
    """A project whose only admins are ``emails`` (the server administrator's creator grant is revoked)."""
    admin = admin_api(srv)
    project = new_project(admin, parent)
    for email in emails:
        grant(admin, project, email, "admin")
    admin.ok("POST", f"/api/v1/projects/{project}/grants/revoke", _who(srv, ADMIN))
    return admin, project, [Api(srv, session(srv, e)) for e in emails]


def test_the_sole_admin_cannot_demote_or_remove_herself(srv: ServerProcess) -> None:
    alice = unique_name("alice") + "@example.com"
    admin, project, [a] = _owned_by(srv, alice)
    grants = f"/api/v1/projects/{project}/grants"
    before = _grants(admin, project)
    assert before == [(alice, "admin")]
    for role in ("viewer", "publisher", "policy_writer"):  # the hole: re-granting herself a lower role
        _refused(a("POST", grants, {**_who(srv, alice), "role": role}), 409, "last-admin")
    _refused(a("POST", f"{grants}/revoke", _who(srv, alice)), 409, "last-admin")
    # a server administrator is refused the same: the project's grants must name an admin
    _refused(admin("POST", grants, {**_who(srv, alice), "role": "viewer"}), 409, "last-admin")
    _refused(admin("POST", f"{grants}/revoke", _who(srv, alice)), 409, "last-admin")
    assert _grants(admin, project) == before
    assert a.ok("GET", f"/api/v1/projects/{project}")["role"] == "admin"
    # re-granting admin to herself is no demotion; with a second admin she may step down
    a.ok("POST", grants, {**_who(srv, alice), "role": "admin"})
    bob = unique_name("bob") + "@example.com"
    a.ok("POST", grants, {**_who(srv, bob), "role": "admin"})
    a.ok("POST", grants, {**_who(srv, alice), "role": "viewer"})
    assert _grants(admin, project) == sorted([(alice, "viewer"), (bob, "admin")])


def test_inherited_admins_count_and_a_parent_keeps_its_own(srv: ServerProcess) -> None:
    alice, bob = unique_name("alice") + "@example.com", unique_name("bob") + "@example.com"
    admin, parent, [a] = _owned_by(srv, alice)
    child = unique_name("c")
    a.ok("POST", f"/api/v1/projects/{parent}/children", {"name": child})  # alice: creator admin of the child
    a.ok("POST", f"/api/v1/projects/{child}/grants", {**_who(srv, bob), "role": "admin"})
    b = Api(srv, session(srv, bob))
    # the child's own admins may both go: alice stays its admin through the parent
    b.ok("POST", f"/api/v1/projects/{child}/grants/revoke", _who(srv, alice))
    a.ok("POST", f"/api/v1/projects/{child}/grants", {**_who(srv, bob), "role": "viewer"})
    assert _grants(admin, child) == [(bob, "viewer")]
    assert a.ok("GET", f"/api/v1/projects/{child}")["role"] == "admin"
    # the parent's last admin cannot go, although the child has had admins of its own
    before = (_grants(admin, parent), _grants(admin, child))
    _refused(a("POST", f"/api/v1/projects/{parent}/grants", {**_who(srv, alice), "role": "viewer"}), 409, "last-admin")
    _refused(a("POST", f"/api/v1/projects/{parent}/grants/revoke", _who(srv, alice)), 409, "last-admin")
    assert (_grants(admin, parent), _grants(admin, child)) == before


def test_removing_an_identity_keeps_every_project_an_admin(srv: ServerProcess, tmp_path: Path) -> None:
    carol, dave = unique_name("carol") + "@example.com", unique_name("dave") + "@example.com"
    admin, shared, _ = _owned_by(srv, carol, dave)
    _, alone, _ = _owned_by(srv, carol)
    body = _who(srv, carol)
    before = (_grants(admin, shared), _grants(admin, alone))
    r = admin("POST", "/api/v1/identities/remove", body)
    _refused(r, 409, "last-admin")
    assert alone in r.json()["message"]
    assert (_grants(admin, shared), _grants(admin, alone)) == before  # nothing removed anywhere
    cli = ("project", "remove-identity", "--identity", carol, "--issuer", issuer(srv), "--server", srv.url)
    r = run_assay(*cli, "--token", str(admin.bearer), env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert r.code == 2 and "error[last-admin]" in r.err, r.err
    assert (_grants(admin, shared), _grants(admin, alone)) == before
    admin.ok("POST", f"/api/v1/projects/{alone}/grants", {**_who(srv, dave), "role": "admin"})
    r = run_assay(*cli, "--token", str(admin.bearer), env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert r.code == 0 and "removed 2 grants" in r.out, r.err
    assert _grants(admin, shared) == _grants(admin, alone) == [(dave, "admin")]
    _refused(Api(srv, session(srv, carol))("POST", "/api/v1/identities/remove", body), 403, "not-server-admin")


@pytest.fixture(scope="module")
def twin(srv: ServerProcess) -> Iterator[ServerProcess]:
    """A second server process on the same database and data directory (as ``--workers`` or a second host
    would be): each process authorises from its own briefly cached view, so two admins' requests can both
    pass authorisation before either change commits."""
    other = ServerProcess(srv.data_dir, srv.database, extra=["--login-rate-limit", "100000/m"]).start()
    try:
        yield other
    finally:
        other.stop()


def _race(
    urls: tuple[str, str], paths: tuple[str, str], bearers: tuple[str, str], bodies: tuple[Any, Any]
) -> list[Any]:
    """Two requests, each to its own server process, released together."""
    gate = threading.Barrier(2)
    out: list[Any] = [None, None]

    def run(i: int) -> None:
        with httpx.Client(base_url=urls[i], timeout=30, headers={"Authorization": f"Bearer {bearers[i]}"}) as client:
            assert client.get(paths[i].removesuffix("/revoke")).status_code == 200  # connected, authorised, ready
            gate.wait()
            out[i] = client.post(paths[i], json=bodies[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


@pytest.mark.parametrize("change", ["demote", "revoke"])
def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    srv: ServerProcess, twin: ServerProcess, change: str
) -> None:
    """Each round: exactly one change wins and the project keeps exactly one admin. The loser is 409
    ``last-admin`` when both passed authorisation (the race this is about); 403 only when it arrived after
    its own demotion was visible to its process. Rounds repeat until the race was won three times."""
    raced = 0
    for _ in range(12):
        alice, bob = unique_name("alice") + "@example.com", unique_name("bob") + "@example.com"
        admin, project, [a, b] = _owned_by(srv, alice, bob)
        path = f"/api/v1/projects/{project}/grants" + ("/revoke" if change == "revoke" else "")
        extra = {"role": "viewer"} if change == "demote" else {}
        bodies = ({**_who(srv, bob), **extra}, {**_who(srv, alice), **extra})
        answers = _race((srv.url, twin.url), (path, path), (str(a.bearer), str(b.bearer)), bodies)
        won = [r for r in answers if r.status_code in (200, 201)]
        lost = [r for r in answers if r.status_code not in (200, 201)]
        assert len(won) == 1 and len(lost) == 1, [r.text for r in answers]
        reason = (lost[0].status_code, lost[0].json()["reason"])
        assert reason in ((409, "last-admin"), (403, "insufficient-role")), lost[0].text
        assert set(lost[0].json()) >= {"code", "reason", "message"}
        roles = sorted(role for _, role in _grants(admin, project))
        assert roles == (["admin", "viewer"] if change == "demote" else ["admin"]), roles
        raced += reason == (409, "last-admin")
        if raced == 3:
            return
    pytest.fail(f"the two changes raced only {raced} times in 12 rounds")
