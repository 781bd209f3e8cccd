"""What an anonymous caller can do on a registry repository: list the catalog, pull, push (I/O).

Push is probed only by opening a blob upload, which is cancelled at once (``DELETE`` of its location): nothing
is written. A bearer challenge is followed as any client would, without credentials. Each capability is a
checklist row (``pass`` when anonymous callers are refused) and the summary row is
``registry-access-restricted``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from assay.errors import EnvironmentFailure, InputError
from assay.registry.scope import check_repository

TIMEOUT = 15.0
FIX = {
    "anonymous-catalog": "configure the registry's auth (auth: token with `assay registry auth-config`)",
    "anonymous-pull": "make the project members-only, or pass --allow-anonymous-pull for a public image",
    "anonymous-push": "configure token auth so only publishers and CI (push: ci-only) may push",
    "registry-access-restricted": "put the registry behind assay's token service (`assay registry auth-config`)",
}


def split_reference(ref: str) -> tuple[str, str]:
    """``HOST[:PORT]/REPO`` -> (host, repository), or ``bad-registry-reference``."""
    host, sep, repo = ref.removeprefix("https://").removeprefix("http://").partition("/")
    if not sep or not host or ("." not in host and ":" not in host and host != "localhost"):
        raise InputError("bad-registry-reference", f"{ref[:100]!r} is not REGISTRY/REPOSITORY")
    return host, check_repository(repo.split("@", 1)[0].split(":", 1)[0])


def _loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in ("localhost", "127.0.0.1", "[::1]")


@dataclass
class Probe:
    """An anonymous client for one registry host, following bearer challenges."""

    base: str
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=TIMEOUT))

    def call(self, method: str, path: str, scope: str) -> httpx.Response:
        url = urljoin(self.base, path)
        try:
            resp = self.client.request(method, url)
            challenge = resp.headers.get("WWW-Authenticate", "")
            if resp.status_code == 401 and challenge.lower().startswith("bearer"):
                params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
                realm = params.pop("realm", "")
                params.setdefault("scope", scope)
                got = self.client.get(realm, params=params) if realm else None
                if got is None or got.status_code != 200:
                    return resp
                token = str(got.json().get("token") or got.json().get("access_token") or "")
                resp = self.client.request(method, url, headers={"Authorization": f"Bearer {token}"})
            return resp
        except (httpx.HTTPError, ValueError) as exc:
            raise EnvironmentFailure("registry-unreachable", f"{self.base}: {exc}") from None


def _row(item: str, allowed: bool, evidence: str, tolerated: bool = False) -> dict[str, Any]:
    status = "pass" if not allowed or tolerated else "fail"
    return {"item": item, "status": status, "evidence": [evidence], "fix": "" if status == "pass" else FIX[item]}


def run(ref: str, *, insecure: bool | None = None, allow_anonymous_pull: bool = False) -> list[dict[str, Any]]:
    """The rows for ``ref`` (plain HTTP only for a loopback registry, or when ``insecure``)."""
    host, repo = split_reference(ref)
    plain = _loopback(host) if insecure is None else insecure
    probe = Probe(("http://" if plain else "https://") + host)
    with probe.client:
        ping = probe.call("GET", "/v2/", "")
        if ping.status_code not in (200, 401):
            raise EnvironmentFailure("registry-unreachable", f"{host}: /v2/ answered HTTP {ping.status_code}")
        catalog = probe.call("GET", "/v2/_catalog?n=1", "registry:catalog:*")
        rows = [_row("anonymous-catalog", catalog.status_code == 200, f"GET /v2/_catalog: HTTP {catalog.status_code}")]
        pull = probe.call("GET", f"/v2/{repo}/tags/list", f"repository:{repo}:pull")
        pulled = pull.status_code in (200, 404)  # 404: authorised, the repository is just empty
        rows.append(
            _row("anonymous-pull", pulled, f"GET /v2/{repo}/tags/list: HTTP {pull.status_code}", allow_anonymous_pull)
        )
        push = probe.call("POST", f"/v2/{repo}/blobs/uploads/", f"repository:{repo}:pull,push")
        opened = push.status_code == 202
        evidence = f"POST /v2/{repo}/blobs/uploads/: HTTP {push.status_code}"
        if opened and push.headers.get("Location"):
            cancel = probe.call("DELETE", push.headers["Location"], f"repository:{repo}:pull,push")
            evidence += f" (upload opened, cancelled: HTTP {cancel.status_code})"
        rows.append(_row("anonymous-push", opened, evidence))
    restricted = not opened and rows[0]["status"] == "pass"
    summary = "anonymous callers cannot push or list the catalog" if restricted else "anonymous access is open"
    rows.append(_row("registry-access-restricted", not restricted, f"{host}/{repo}: {summary}"))
    return rows
