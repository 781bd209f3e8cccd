"""Helpers for the access-control tests: servers with a fresh database per module, sessions, projects."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.integration.conftest import ServerProcess, _fresh_pg

ADMIN = "admin@example.com"


def fresh_database(kind: str) -> Iterator[str | None]:
    """None (SQLite in the data directory) or a fresh PostgreSQL database dropped afterwards."""
    if kind == "sqlite":
        yield None
    else:
        yield from _fresh_pg()


def start(tmp: Path, database: str | None, *extra: str, env: dict[str, str] | None = None) -> ServerProcess:
    """A --dev server with generous login limits unless the test sets its own."""
    args = ["--dev", *extra]
    if "--login-rate-limit" not in extra:
        args += ["--login-rate-limit", "100000/m"]
    return ServerProcess(tmp / ("data-" + secrets.token_hex(3)), database, extra=args, env=env or {}).start()


def issuer(srv: ServerProcess) -> str:
    """The --dev server's email issuer."""
    return srv.url + "/dev/oidc"


def id_token(srv: ServerProcess, email: str, **body: Any) -> str:
    """An ID token for ``email`` from the server's dev issuer."""
    r = httpx.post(srv.url + "/dev/oidc/token", json={"email": email, **body}, timeout=10)
    r.raise_for_status()
    return str(r.json()["id_token"])


def session(srv: ServerProcess, email: str) -> str:
    """A session token for ``email`` (exchanged from a dev ID token)."""
    r = httpx.post(srv.url + "/api/v1/auth/session", json={"identityToken": id_token(srv, email)}, timeout=10)
    assert r.status_code == 200, r.text
    return str(r.json()["session"])


def unique(prefix: str) -> str:
    """A fresh project (or user) name."""
    return f"{prefix}-{secrets.token_hex(4)}"


@dataclass
class Api:
    """An httpx wrapper with a bearer credential."""

    srv: ServerProcess
    bearer: str | None

    def __call__(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.bearer}"} if self.bearer else {}
        headers.update(kw.pop("headers", None) or {})
        return httpx.request(method, self.srv.url + path, json=body, headers=headers, timeout=30, **kw)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        r = self(method, path, body)
        assert 200 <= r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()


def admin_api(srv: ServerProcess) -> Api:
    """The server administrator (the --dev admin)."""
    return Api(srv, session(srv, ADMIN))


def new_project(admin: Api, parent: str | None = None) -> str:
    """Create a project as the administrator."""
    name = unique("p")
    path = f"/api/v1/projects/{parent}/children" if parent else "/api/v1/projects"
    admin.ok("POST", path, {"name": name})
    return name


def grant(admin: Api, project: str, email: str, role: str) -> None:
    """Grant ``role`` on ``project`` to a dev-issuer identity."""
    admin.ok(
        "POST", f"/api/v1/projects/{project}/grants", {"issuer": issuer(admin.srv), "subject": email, "role": role}
    )


def audit_rows(admin: Api) -> list[dict[str, Any]]:
    """The whole chain."""
    return list(admin.ok("GET", "/api/v1/audit?limit=10000")["rows"])


@dataclass
class ProjectServer:
    """A --dev server with one project: its administrator and a publisher (``publisher_email``) on it."""

    srv: ServerProcess
    project: str
    admin: Api
    publisher: Api

    @property
    def url(self) -> str:
        return self.srv.url

    @property
    def data_dir(self) -> Path:
        return self.srv.data_dir

    def auth(self, who: Api | None = None) -> dict[str, str]:
        """The Authorization header of ``who`` (default: the administrator)."""
        return {"Authorization": f"Bearer {(who or self.admin).bearer}"}


def project_server(
    tmp: Path, database: str | None, project: str, publisher_email: str, env: dict[str, str] | None = None
) -> ProjectServer:
    """Start a --dev server, create ``project`` and grant ``publisher_email`` the publisher role on it."""
    srv = start(tmp, database, env=env)
    try:
        admin = admin_api(srv)
        admin.ok("POST", "/api/v1/projects", {"name": project})
        grant(admin, project, publisher_email, "publisher")
        return ProjectServer(srv, project, admin, Api(srv, session(srv, publisher_email)))
    except BaseException:
        srv.stop()  # the caller never gets it to stop
        raise


def release_policy(key_file: str) -> str:
    """A repository policy: ``*.bin`` blobs must carry a signature by the key in ``key_file``."""
    return f"""apiVersion: assay.dev/v1
kind: Policy
metadata:
  name: release
spec:
  mode: enforce
  match:
    blobs: ["*.bin"]
  require:
    - name: signed-by-release-key
      signature:
        authorities:
          keys: [{key_file}]
"""


def trust_keys_and_policy(ps: ProjectServer, w: Path, keys: tuple[str, ...] = ("k1",)) -> None:
    """Make key pairs ``keys`` in ``w``, make the project trust them, and set a repository policy requiring
    a signature by the first (as the project's administrator, through the CLI)."""
    from tests.conftest import run_assay

    for k in keys:
        assert run_assay("keygen", "--output-prefix", k, cwd=w).code == 0
    (w / "policy.yaml").write_text(release_policy(f"{keys[0]}.pub"))
    common = ("--server", ps.url, "--project", ps.project, "--token", str(ps.admin.bearer))
    for args in (
        ("evidence", "trust", *(a for k in keys for a in ("--key", f"{k}.pub"))),
        ("repository", "policy", "policy.yaml", "--file", f"{keys[0]}.pub"),
    ):
        r = run_assay(*args, *common, cwd=w)
        assert r.code == 0, r.err
