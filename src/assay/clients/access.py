"""The access API client (projects, grants, tokens, sessions, audit) and the stored login credentials."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from assay.clients.http import request
from assay.errors import InputError


def credentials_path() -> Path:
    """``$XDG_CONFIG_HOME/assay/credentials.json`` (default ``~/.config/assay/credentials.json``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "assay" / "credentials.json"


def load_credentials() -> dict[str, Any]:
    """The stored sessions by server URL (empty when none)."""
    path = credentials_path()
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"servers": {}}
    return doc if isinstance(doc, dict) and isinstance(doc.get("servers"), dict) else {"servers": {}}


def save_credentials(doc: dict[str, Any]) -> Path:
    """Write the credentials file with mode 0600 (its directory 0700), atomically."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def server_url(server: str | None) -> str:
    """``--server``, else ASSAY_SERVER, else the server of the last login."""
    url = server or os.environ.get("ASSAY_SERVER") or load_credentials().get("default")
    if not url:
        raise InputError("no-server", "which server?", hint="pass --server URL or run assay login --server URL first")
    return str(url).rstrip("/")


def bearer_for(url: str, token: str | None) -> str | None:
    """``--token``, else ASSAY_TOKEN, else the stored session for ``url``."""
    if token:
        return token
    if os.environ.get("ASSAY_TOKEN"):
        return os.environ["ASSAY_TOKEN"]
    entry = load_credentials()["servers"].get(url)
    return str(entry["session"]) if isinstance(entry, dict) and entry.get("session") else None


def refusal(resp: httpx.Response, what: str) -> InputError:
    """The server's reason code for a 4xx answer as an error (exit 2)."""
    try:
        doc = resp.json()
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    reason = str(doc.get("reason") or f"http-{resp.status_code}")
    message = str(doc.get("message") or doc.get("error_description") or resp.text[:200])
    return InputError(reason, f"{what}: {message} (HTTP {resp.status_code})")


@dataclass
class AccessClient:
    """Calls ``{url}/api/v1/...`` with a bearer credential."""

    url: str
    bearer: str | None = None

    def call(self, method: str, path: str, what: str, *, body: Any = None, params: Any = None) -> Any:
        """One request; 2xx JSON back, else the server's reason as an error."""
        headers = {"Authorization": f"Bearer {self.bearer}"} if self.bearer else {}
        resp = request(method, self.url + path, json=body, params=params, headers=headers, retries=0)
        if resp.status_code >= 300:
            raise refusal(resp, what)
        return resp.json()

    def session(self, identity_token: str) -> dict[str, Any]:
        """Exchange an OIDC identity token for a session."""
        return self.call("POST", "/api/v1/auth/session", "login", body={"identityToken": identity_token})  # type: ignore[no-any-return]

    def set_visibility(self, project: str, visibility: str) -> dict[str, Any]:
        """Make ``project`` ``public`` or ``members``-only (needs its admin role)."""
        path = f"/api/v1/projects/{project}/visibility"
        return self.call("PUT", path, "project set", body={"visibility": visibility})  # type: ignore[no-any-return]

    def pages(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every audit row, following ``after``."""
        rows: list[dict[str, Any]] = []
        after = 0
        while True:
            page = self.call("GET", path, "audit", params={**params, "after": after, "limit": 5000})["rows"]
            rows.extend(page)
            if len(page) < 5000:
                return rows
            after = int(page[-1]["seq"])
