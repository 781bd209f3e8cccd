"""HTTP client for an assay server's key broker: keys, decryption policies, unwrap, release records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from assay.clients.access import bearer_for, server_url
from assay.clients.http import reject, request
from assay.errors import InputError, VerificationError


def _refused(resp: httpx.Response, what: str) -> Exception:
    """403 (the policy or evidence refused) → VerificationError (exit 1); other 4xx → InputError (exit 2)."""
    err = reject(resp, what)
    if resp.status_code == 403 and err.reason not in (
        "forbidden",
        "permission-denied",
        "insufficient-role",
        "not-server-admin",
    ):
        return VerificationError(err.reason, err.message)
    return err


@dataclass(frozen=True)
class BrokerClient:
    """``{url}/api/v1/projects/{project}/keys/{name}``; ``token`` is the caller's assay credential."""

    url: str
    project: str
    name: str
    token: str | None = None

    @classmethod
    def parse(cls, spec: str, token: str | None = None) -> BrokerClient:
        """``broker:URL/PROJECT/KEY`` (``broker:`` optional)."""
        rest = spec.removeprefix("broker:")
        base, _, name = rest.rpartition("/")
        base, _, project = base.rpartition("/")
        if not base.startswith(("http://", "https://")) or not project or not name:
            raise InputError("bad-recipient", f"{spec!r}: broker recipients are broker:https://SERVER/PROJECT/KEY")
        url = server_url(base)
        return cls(url, project, name, bearer_for(url, token))

    @classmethod
    def at(cls, server: str, project: str, name: str, token: str | None = None) -> BrokerClient:
        """The key ``name`` of ``project`` on ``server``."""
        url = server_url(server)
        return cls(url, project, name, bearer_for(url, token))

    @property
    def spec(self) -> str:
        """This key as a recipient string (``broker:URL/PROJECT/KEY``)."""
        return f"broker:{self.url}/{self.project}/{self.name}"

    def _u(self, path: str = "") -> str:
        return f"{self.url}/api/v1/projects/{quote(self.project)}/keys/{quote(self.name)}{path}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _json(self, resp: httpx.Response, ok: tuple[int, ...], what: str) -> Any:
        if resp.status_code not in ok:
            raise _refused(resp, what)
        return resp.json()

    def create(self, kek: str | None = None) -> dict[str, Any]:
        """A new key version; ``kek`` names where the server keeps its private part (default: a file)."""
        body = {"kek": kek} if kek else None
        resp = request("POST", self._u(), json=body, headers=self._headers(), retries=0)
        return self._json(resp, (201,), "broker key")  # type: ignore[no-any-return]

    def key(self) -> dict[str, Any]:
        return self._json(request("GET", self._u(), headers=self._headers()), (200,), "broker key")  # type: ignore[no-any-return]

    def put_policy(self, document: bytes) -> dict[str, Any]:
        resp = request("PUT", self._u("/policy"), content=document, headers=self._headers(), retries=0)
        return self._json(resp, (200,), "decryption policy")  # type: ignore[no-any-return]

    def unwrap(self, body: dict[str, Any]) -> dict[str, Any]:
        resp = request("POST", self._u("/unwrap"), json=body, headers=self._headers(), retries=0)
        return self._json(resp, (200,), "unwrap")  # type: ignore[no-any-return]

    def project_keys(self) -> list[dict[str, Any]]:
        resp = request("GET", f"{self.url}/api/v1/projects/{quote(self.project)}/keys", headers=self._headers())
        return self._json(resp, (200,), "broker keys")["keys"]  # type: ignore[no-any-return]

    def policy(self) -> dict[str, Any]:
        return self._json(request("GET", self._u("/policy"), headers=self._headers()), (200,), "decryption policy")  # type: ignore[no-any-return]

    def rewrap(self, header: bytes) -> dict[str, Any]:
        import base64

        body = {"header": base64.b64encode(header).decode()}
        resp = request("POST", self._u("/rewrap"), json=body, headers=self._headers(), retries=0)
        return self._json(resp, (200,), "rewrap")  # type: ignore[no-any-return]

    def releases(self) -> list[dict[str, Any]]:
        return self._json(request("GET", self._u("/releases"), headers=self._headers()), (200,), "releases")["releases"]  # type: ignore[no-any-return]
