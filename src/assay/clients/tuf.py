"""HTTP client for an assay server's TUF repositories: uploads under ``/api/v1/projects/{p}/tuf``, reads at ``/tuf/``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from assay.clients.access import bearer_for, refusal, server_url
from assay.clients.http import request


@dataclass(frozen=True)
class TufClient:
    """One project's TUF repository on one server; ``token`` is the caller's assay credential."""

    url: str
    project: str
    token: str | None = None

    @classmethod
    def create(cls, server: str | None, project: str, token: str | None = None) -> TufClient:
        url = server_url(server)
        return cls(url, project, bearer_for(url, token))

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1/projects/{quote(self.project, safe='')}/tuf"

    @property
    def repository(self) -> str:
        """The TUF metadata base URL (``/tuf/{project}``); targets are under ``/targets/``."""
        return f"{self.url}/tuf/{quote(self.project, safe='')}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _call(self, method: str, url: str, what: str, ok: tuple[int, ...] = (200, 201, 202), **kw: Any) -> Any:
        resp = request(method, url, headers=self._headers(), retries=0 if method != "GET" else 3, **kw)
        if resp.status_code not in ok:
            raise refusal(resp, what)
        return resp

    def online_keys(self) -> list[dict[str, Any]]:
        """The server's online public keys (TUF key dicts with their keyid), preferred first."""
        return self._call("GET", f"{self.url}/api/v1/tuf/online-keys", "online keys").json()["keys"]  # type: ignore[no-any-return]

    def init(self, root: bytes, targets: bytes) -> dict[str, Any]:
        body = {"root": root.decode(), "targets": targets.decode()}
        return self._call("POST", self.api, "TUF init", json=body).json()  # type: ignore[no-any-return]

    def upload_root(self, data: bytes, partial: bool = False) -> dict[str, Any]:
        params = {"partial": "true"} if partial else {}
        return self._call("PUT", f"{self.api}/root", "root upload", content=data, params=params).json()  # type: ignore[no-any-return]

    def upload_role(self, role: str, data: bytes, partial: bool = False) -> dict[str, Any]:
        params = {"partial": "true"} if partial else {}
        url = f"{self.api}/roles/{quote(role, safe='')}"
        return self._call("PUT", url, f"{role} upload", content=data, params=params).json()  # type: ignore[no-any-return]

    def put_target(self, data: bytes) -> dict[str, Any]:
        return self._call("PUT", f"{self.api}/blobs", "target upload", content=data).json()  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any]:
        return self._call("GET", f"{self.api}/status", "TUF status").json()  # type: ignore[no-any-return]

    def pending(self, role: str) -> bytes | None:
        """The pending version of ``role``, or None."""
        resp = self._call("GET", f"{self.api}/pending/{quote(role, safe='')}", "pending", ok=(200, 404))
        return None if resp.status_code == 404 else bytes(resp.content)

    def metadata(self, filename: str) -> bytes | None:
        """A served metadata file (``root.json``, ``timestamp.json``, ``N.ROLE.json``), or None when missing."""
        resp = self._call("GET", f"{self.repository}/{quote(filename, safe='')}", filename, ok=(200, 404))
        return None if resp.status_code == 404 else bytes(resp.content)
