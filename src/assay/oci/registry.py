"""OCI distribution v1.1 client (httpx): manifests, blobs, tags, referrers, token and basic auth.

Every byte received by digest is checked against that digest. Plain HTTP is
only allowed for loopback registries (``--insecure``).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from assay.errors import EnvironmentFailure, InputError, VerificationError

MANIFEST_LIMIT = 4 * 1024 * 1024
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of some bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if not host.startswith("[") or "]:" in host else host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass
class Registry:
    """A client for one registry host."""

    host: str
    insecure: bool = False
    username: str | None = None
    password: str | None = None
    _client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30), repr=False)
    _tokens: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.insecure and not _loopback(self.host):
            raise InputError(
                "insecure-not-loopback",
                f"--insecure (plain HTTP) is only allowed for loopback registries, not {self.host}",
            )

    @property
    def base(self) -> str:
        scheme = "http" if self.insecure else "https"
        host = "registry-1.docker.io" if self.host == "docker.io" else self.host
        return f"{scheme}://{host}"

    # ---- transport and auth ----------------------------------------------------------

    def _auth_headers(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope)
        if token:
            return {"Authorization": f"Bearer {token}"}
        if self.username is not None:
            raw = f"{self.username}:{self.password or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return {}

    def _fetch_token(self, challenge: str, scope: str) -> None:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", None)
        if not realm:
            raise EnvironmentFailure("registry-auth-failed", f"{self.host}: bearer challenge without a realm")
        params.setdefault("scope", scope)
        auth = (self.username, self.password or "") if self.username is not None else None
        try:
            resp = self._client.get(realm, params=params, auth=auth)
        except httpx.HTTPError as exc:
            raise EnvironmentFailure("registry-unreachable", f"{realm}: {exc}") from None
        if resp.status_code != 200:
            raise EnvironmentFailure(
                "registry-auth-failed", f"{self.host}: token request refused (HTTP {resp.status_code})"
            )
        doc = resp.json()
        self._tokens[scope] = str(doc.get("token") or doc.get("access_token") or "")

    def request(self, method: str, path: str, *, scope: str, **kwargs: Any) -> httpx.Response:
        """One request, answering a 401 bearer challenge once; retries transient failures."""
        url = path if path.startswith("http") else self.base + path
        for attempt in range(4):
            headers = {**kwargs.pop("headers", {}), **self._auth_headers(scope)}
            try:
                resp = self._client.request(method, url, headers=headers, **kwargs)
            except httpx.HTTPError as exc:
                if attempt == 3:
                    raise EnvironmentFailure("registry-unreachable", f"{self.host}: {exc}") from None
                continue
            kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
            if resp.status_code == 401 and attempt == 0:
                challenge = resp.headers.get("WWW-Authenticate", "")
                if challenge.lower().startswith("bearer"):
                    self._fetch_token(challenge, scope)
                    continue
            if resp.status_code in (429, 502, 503, 504) and attempt < 3:
                import time

                time.sleep(0.2 * 2**attempt)
                continue
            return resp
        return resp

    # ---- API ------------------------------------------------------------------------

    def ping(self) -> None:
        resp = self.request("GET", "/v2/", scope="")
        if resp.status_code not in (200, 401):
            raise EnvironmentFailure(
                "registry-unreachable", f"{self.host} does not speak the OCI distribution API (HTTP {resp.status_code})"
            )

    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest); a digest reference is checked against the bytes."""
        resp = self.request(
            "GET", f"/v2/{repo}/manifests/{reference}", scope=f"repository:{repo}:pull", headers={"Accept": ACCEPT}
        )
        if resp.status_code == 404:
            raise InputError("image-not-found", f"{self.host}/{repo}:{reference} does not exist")
        if resp.status_code != 200:
            raise EnvironmentFailure("registry-error", f"GET manifest {repo}:{reference}: HTTP {resp.status_code}")
        data = resp.content
        if len(data) > MANIFEST_LIMIT:
            raise InputError("manifest-too-large", f"manifest of {repo}:{reference} exceeds {MANIFEST_LIMIT} bytes")
        digest = sha256_digest(data)
        if reference.startswith("sha256:") and reference != digest:
            raise VerificationError(
                "manifest-digest-mismatch",
                f"the registry returned a manifest whose digest is {digest}, not {reference}",
            )
        media_type = resp.headers.get("Content-Type", "").split(";")[0] or json.loads(data).get(
            "mediaType", OCI_MANIFEST
        )
        return data, media_type, digest

    def resolve(self, repo: str, reference: str) -> tuple[str, str, int]:
        """(digest, media type, size) of a tag or digest."""
        data, media_type, digest = self.get_manifest(repo, reference)
        return digest, media_type, len(data)

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> httpx.Response:
        resp = self.request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            scope=f"repository:{repo}:pull,push",
            content=data,
            headers={"Content-Type": media_type},
        )
        if resp.status_code not in (200, 201):
            raise EnvironmentFailure(
                "registry-error", f"PUT manifest {repo}:{reference}: HTTP {resp.status_code}: {resp.text[:200]}"
            )
        return resp

    def blob_exists(self, repo: str, digest: str) -> bool:
        return self.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope=f"repository:{repo}:pull").status_code == 200

    def push_blob(self, repo: str, data: bytes) -> str:
        """Upload a blob (monolithic POST + PUT) unless present; returns its digest."""
        digest = sha256_digest(data)
        if self.blob_exists(repo, digest):
            return digest
        scope = f"repository:{repo}:pull,push"
        start = self.request("POST", f"/v2/{repo}/blobs/uploads/", scope=scope)
        if start.status_code != 202:
            raise EnvironmentFailure("registry-error", f"starting a blob upload to {repo}: HTTP {start.status_code}")
        location = start.headers["Location"]
        sep = "&" if "?" in location else "?"
        done = self.request(
            "PUT",
            f"{location}{sep}digest={digest}",
            scope=scope,
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        if done.status_code != 201:
            raise EnvironmentFailure("registry-error", f"finishing a blob upload to {repo}: HTTP {done.status_code}")
        return digest

    def get_blob(self, repo: str, digest: str, limit: int = 64 * 1024 * 1024) -> bytes:
        resp = self.request("GET", f"/v2/{repo}/blobs/{digest}", scope=f"repository:{repo}:pull", follow_redirects=True)
        if resp.status_code != 200:
            raise EnvironmentFailure("registry-error", f"GET blob {digest}: HTTP {resp.status_code}")
        if len(resp.content) > limit:
            raise InputError("blob-too-large", f"blob {digest} exceeds {limit} bytes")
        if sha256_digest(resp.content) != digest:
            raise VerificationError("blob-digest-mismatch", f"the registry returned bytes that do not hash to {digest}")
        return resp.content

    def list_tags(self, repo: str, page_size: int = 100) -> list[str]:
        """All tags, following the ``Link: <...>; rel="next"`` pagination."""
        tags: list[str] = []
        path: str | None = f"/v2/{repo}/tags/list?n={page_size}"
        while path:
            resp = self.request("GET", path, scope=f"repository:{repo}:pull")
            if resp.status_code == 404:
                raise InputError("repository-not-found", f"{self.host}/{repo} does not exist")
            if resp.status_code != 200:
                raise EnvironmentFailure("registry-error", f"GET tags of {repo}: HTTP {resp.status_code}")
            tags.extend(resp.json().get("tags") or [])
            link = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', resp.headers.get("Link", ""))
            path = link.group(1) if link else None
        return tags

    def referrers(self, repo: str, digest: str, artifact_type: str | None = None) -> list[dict[str, Any]] | None:
        """Descriptors from the referrers API, or None when the registry has none (use the tag fallback)."""
        params = {"artifactType": artifact_type} if artifact_type else None
        resp = self.request(
            "GET",
            f"/v2/{repo}/referrers/{digest}",
            scope=f"repository:{repo}:pull",
            params=params,
            headers={"Accept": OCI_INDEX},
        )
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise EnvironmentFailure("registry-error", f"GET referrers {digest}: HTTP {resp.status_code}")
        manifests = resp.json().get("manifests") or []
        return [m for m in manifests if artifact_type is None or m.get("artifactType") == artifact_type]
