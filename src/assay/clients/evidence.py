"""HTTP client for the evidence store and the artifact repository of an assay server."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx

from assay.clients.access import bearer_for, server_url
from assay.clients.http import reject, request
from assay.errors import EnvironmentFailure, VerificationError

CHUNK = 1024 * 1024


def _refused(resp: httpx.Response, what: str) -> Exception:
    """422 (did not verify / failed policy) → VerificationError (exit 1); other 4xx → InputError (exit 2)."""
    err = reject(resp, what)
    if resp.status_code == 422:
        return VerificationError(err.reason, err.message)
    return err


@dataclass(frozen=True)
class EvidenceClient:
    """Talks to ``{url}/api/v1/projects/{project}/...``; ``token`` is sent as a bearer token."""

    url: str
    project: str
    token: str | None = None

    @classmethod
    def create(cls, server: str | None, project: str, token: str | None = None) -> EvidenceClient:
        """A client the way the access commands make one: ``--server``, else ASSAY_SERVER, else the last login;
        ``--token``, else ASSAY_TOKEN, else the stored ``assay login`` session for that server."""
        url = server_url(server)
        return cls(url, project, bearer_for(url, token))

    def _u(self, path: str) -> str:
        return f"{self.url}/api/v1/projects/{quote(self.project, safe='')}{path}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def put(self, data: bytes, accept_unverified: bool = False) -> dict[str, Any]:
        """Upload one document or an ``.intoto.jsonl`` batch."""
        params = {"accept": "unverified"} if accept_unverified else {}
        resp = request("POST", self._u("/evidence"), content=data, params=params, headers=self._headers(), retries=1)
        if resp.status_code not in (200, 201):
            raise _refused(resp, "evidence")
        return resp.json()  # type: ignore[no-any-return]

    def search(self, **params: Any) -> Iterator[dict[str, Any]]:
        """Every matching item, following the cursor."""
        query = {k: v for k, v in params.items() if v is not None}
        while True:
            resp = request("GET", self._u("/evidence"), params=query, headers=self._headers())
            if resp.status_code != 200:
                raise reject(resp, "evidence search")
            doc = resp.json()
            yield from doc["items"]
            if not doc.get("next"):
                return
            query["cursor"] = doc["next"]

    def get(self, digest: str) -> bytes:
        """The exact bytes of an item (checked against its digest)."""
        resp = request("GET", self._u(f"/evidence/{quote(digest, safe=':')}"), headers=self._headers())
        if resp.status_code != 200:
            raise reject(resp, "evidence")
        want = digest.split(":", 1)[-1].lower()
        if hashlib.sha256(resp.content).hexdigest() != want:
            raise EnvironmentFailure("digest-mismatch", f"the server answered bytes that do not hash to {digest}")
        return resp.content

    def publish(self, path: Path, sha256: str, name: str, version: str) -> dict[str, Any]:
        """Stream a file as an artifact version (the declared digest is checked by the server)."""

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as fh:
                while block := fh.read(CHUNK):
                    yield block

        headers = {**self._headers(), "X-Assay-Digest": "sha256:" + sha256, "Content-Type": "application/octet-stream"}
        headers["Content-Length"] = str(path.stat().st_size)
        url = self._u(f"/artifacts/{quote(name, safe='')}/{quote(version, safe='')}")
        try:
            resp = httpx.put(url, content=chunks(), headers=headers, timeout=httpx.Timeout(600, connect=30))
        except httpx.HTTPError as exc:
            raise EnvironmentFailure("network-error", f"PUT {url}: {exc}") from None
        if resp.status_code not in (200, 201):
            raise _refused(resp, f"publish {name}@{version}")
        return resp.json()  # type: ignore[no-any-return]

    def download(self, name: str, version: str, out: BinaryIO) -> tuple[str, str, str]:
        """Stream a version into ``out``; returns (computed sha256, announced digest, VSA digest)."""
        url = self._u(f"/artifacts/{quote(name, safe='')}/{quote(version, safe='')}")
        h = hashlib.sha256()
        try:
            with httpx.stream("GET", url, headers=self._headers(), timeout=httpx.Timeout(600, connect=30)) as resp:
                if resp.status_code != 200:
                    resp.read()
                    raise reject(resp, f"fetch {name}@{version}")
                for block in resp.iter_bytes(CHUNK):
                    h.update(block)
                    out.write(block)
                return h.hexdigest(), resp.headers.get("x-assay-digest", ""), resp.headers.get("x-assay-vsa", "")
        except httpx.HTTPError as exc:
            raise EnvironmentFailure("network-error", f"GET {url}: {exc}") from None

    def vsa(self, name: str, version: str) -> bytes:
        """The VSA bundle stored beside a version."""
        url = self._u(f"/artifacts/{quote(name, safe='')}/{quote(version, safe='')}/vsa")
        resp = request("GET", url, headers=self._headers())
        if resp.status_code != 200:
            raise reject(resp, "VSA")
        return resp.content

    def repository_key(self) -> bytes:
        """The PEM key the server signs VSAs with."""
        resp = request("GET", f"{self.url}/api/v1/repository/publicKey")
        if resp.status_code != 200:
            raise reject(resp, "repository key")
        return resp.content

    def set_json(self, path: str, doc: dict[str, Any], what: str) -> dict[str, Any]:
        """PUT a JSON settings document (trust, retention, repository policy)."""
        resp = request("PUT", self._u(path), json=doc, headers=self._headers(), retries=1)
        if resp.status_code != 200:
            raise reject(resp, what)
        return resp.json()  # type: ignore[no-any-return]

    def delete(self, name: str, version: str) -> dict[str, Any]:
        """Delete a version (an audited admin action; evidence is kept)."""
        url = self._u(f"/artifacts/{quote(name, safe='')}/{quote(version, safe='')}")
        resp = request("DELETE", url, headers=self._headers(), retries=1)
        if resp.status_code != 200:
            raise reject(resp, f"delete {name}@{version}")
        return resp.json()  # type: ignore[no-any-return]
