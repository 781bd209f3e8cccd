"""OCI distribution v1.1 client (httpx): manifests, blobs, tags, referrers, token and basic auth.

Every byte received by digest is checked against that digest. Plain HTTP is
only allowed for loopback registries (``--insecure``).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import httpx

from assay.errors import EnvironmentFailure, InputError, VerificationError
from assay.oci import manifest
from assay.oci.store import (
    ACCEPT,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    MANIFEST_LIMIT,
    MANIFEST_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
)

__all__ = ["DOCKER_LIST", "DOCKER_MANIFEST", "OCI_INDEX", "OCI_MANIFEST", "Registry", "sha256_digest"]
CHUNK_SIZE = 16 * 1024 * 1024


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
    chunk_size: int = CHUNK_SIZE
    round_trips: int = 0
    _client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30), repr=False)
    _tokens: dict[str, str] = field(default_factory=dict, repr=False)
    _manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict, repr=False)
    _blobs: dict[tuple[str, str], bytes] = field(
        default_factory=dict, repr=False
    )  # small blobs by digest (content-addressed)
    _no_referrers_api: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.insecure and not _loopback(self.host):
            raise InputError(
                "insecure-not-loopback",
                f"--insecure (plain HTTP) is only allowed for loopback registries, not {self.host}",
            )
        if self.username is None:
            from assay.oci.auth import docker_credentials

            found = docker_credentials(self.host)
            if found is not None:
                self.username, self.password = found

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
            self.round_trips += 1
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
            if resp.status_code == 401:
                who = f"as {self.username!r}" if self.username is not None else "anonymously"
                raise EnvironmentFailure(
                    "registry-auth-failed", f"{self.host}: {method} {path.split('?')[0]} refused {who} (HTTP 401)"
                )
            if resp.status_code in (429, 500, 502, 503, 504) and attempt < 3:
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
        cached = self._manifests.get((repo, reference))
        if cached is not None:
            return cached[0], cached[1], reference
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
        media_type = _media_type(resp.headers.get("Content-Type", ""), data, f"{repo}:{reference}")
        manifest.check(data, media_type, f"the manifest of {repo}:{reference}")
        self._manifests[(repo, digest)] = (data, media_type)
        return data, media_type, digest

    def resolve(self, repo: str, reference: str) -> tuple[str, str, int]:
        """(digest, media type, size) of a tag or digest."""
        data, media_type, digest = self.get_manifest(repo, reference)
        return digest, media_type, len(data)

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> str | None:
        """PUT a manifest; returns the ``OCI-Subject`` header (set by registries with a referrers API)."""
        if len(data) > MANIFEST_LIMIT:
            raise InputError("manifest-too-large", f"manifest for {repo}:{reference} exceeds {MANIFEST_LIMIT} bytes")
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
        self._manifests[(repo, sha256_digest(data))] = (data, media_type)
        subject = resp.headers.get("OCI-Subject")
        return str(subject) if subject else None

    def blob_exists(self, repo: str, digest: str) -> bool:
        return self.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope=f"repository:{repo}:pull").status_code == 200

    def push_blob(self, repo: str, data: bytes) -> str:
        """Upload a blob unless present; returns its digest."""
        digest = sha256_digest(data)
        if not self.blob_exists(repo, digest):
            step = self.chunk_size
            self.push_blob_chunks(repo, digest, len(data), (data[i : i + step] for i in range(0, len(data), step)))
        return digest

    def _location(self, resp: httpx.Response, what: str) -> str:
        location = resp.headers.get("Location")
        if not location:
            raise EnvironmentFailure("registry-error", f"{what}: the registry sent no upload Location")
        return str(location)

    def push_blob_chunks(self, repo: str, digest: str, size: int, chunks: Iterator[bytes]) -> None:
        """Monolithic upload (POST + PUT) up to ``chunk_size``; chunked (PATCH with Content-Range) above it."""
        scope = f"repository:{repo}:pull,push"
        start = self.request("POST", f"/v2/{repo}/blobs/uploads/", scope=scope)
        if start.status_code != 202:
            raise EnvironmentFailure("registry-error", f"starting a blob upload to {repo}: HTTP {start.status_code}")
        location = self._location(start, "blob upload")
        final = b""
        if size <= self.chunk_size:
            final = b"".join(chunks)
        else:
            offset = 0
            for chunk in chunks:
                resp = self.request(
                    "PATCH",
                    location,
                    scope=scope,
                    content=chunk,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                        "Content-Length": str(len(chunk)),
                    },
                )
                if resp.status_code != 202:
                    raise EnvironmentFailure(
                        "registry-error", f"uploading a chunk of {digest} to {repo}: HTTP {resp.status_code}"
                    )
                location = self._location(resp, "chunk upload")
                offset += len(chunk)
        sep = "&" if "?" in location else "?"
        done = self.request(
            "PUT",
            f"{location}{sep}digest={digest}",
            scope=scope,
            content=final,
            headers={"Content-Type": "application/octet-stream"},
        )
        if done.status_code == 400 and "DIGEST_INVALID" in done.text:
            raise VerificationError("blob-digest-mismatch", f"the registry computed another digest than {digest}")
        if done.status_code != 201:
            raise EnvironmentFailure("registry-error", f"finishing a blob upload to {repo}: HTTP {done.status_code}")

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Cross-repository mount (201); False when the registry starts an ordinary upload instead."""
        resp = self.request(
            "POST",
            f"/v2/{repo}/blobs/uploads/",
            scope=f"repository:{repo}:pull,push repository:{from_repo}:pull",
            params={"mount": digest, "from": from_repo},
        )
        if resp.status_code == 202 and resp.headers.get("Location"):
            # an upload session was opened instead; cancel it
            self.request("DELETE", resp.headers["Location"], scope=f"repository:{repo}:pull,push")
        return resp.status_code == 201

    def get_blob(self, repo: str, digest: str, limit: int = 64 * 1024 * 1024) -> bytes:
        """A whole blob in memory (signatures, configs, bundles), at most ``limit`` bytes."""
        import io

        cached = self._blobs.get((repo, digest))
        if cached is not None and len(cached) <= limit:
            return cached
        sink = io.BytesIO()
        self.fetch_blob(repo, digest, sink, limit)
        data = sink.getvalue()
        if len(data) <= 1024 * 1024 and len(self._blobs) < 1024:
            self._blobs[(repo, digest)] = data
        return data

    def fetch_blob(self, repo: str, digest: str, sink: BinaryIO, limit: int | None = None) -> int:
        """Stream a blob into ``sink`` while hashing it; a dropped connection is retried, then reported."""
        if not digest.startswith("sha256:"):
            raise InputError("unsupported-digest", f"{digest}: only sha256 blobs are supported")
        for attempt in range(3):
            start = sink.tell()
            h = hashlib.sha256()
            size = 0
            self.round_trips += 1
            try:
                with self._client.stream(
                    "GET",
                    self.base + f"/v2/{repo}/blobs/{digest}",
                    headers=self._auth_headers(f"repository:{repo}:pull"),
                    follow_redirects=True,
                ) as resp:
                    if resp.status_code == 401 and attempt == 0:
                        challenge = resp.headers.get("WWW-Authenticate", "")
                        if challenge.lower().startswith("bearer"):
                            self._fetch_token(challenge, f"repository:{repo}:pull")
                            continue
                    if resp.status_code == 404:
                        raise InputError("blob-not-found", f"{self.host}/{repo}: blob {digest} does not exist")
                    if resp.status_code != 200:
                        raise EnvironmentFailure("registry-error", f"GET blob {digest}: HTTP {resp.status_code}")
                    for chunk in resp.iter_bytes(1024 * 1024):
                        size += len(chunk)
                        if limit is not None and size > limit:
                            raise InputError("blob-too-large", f"blob {digest} exceeds {limit} bytes")
                        h.update(chunk)
                        sink.write(chunk)
            except (httpx.TransportError, httpx.DecodingError) as exc:
                sink.seek(start)
                sink.truncate()
                if attempt == 2:
                    raise EnvironmentFailure(
                        "blob-incomplete", f"{self.host}: the connection dropped while reading blob {digest}: {exc}"
                    ) from None
                time.sleep(0.1 * 2**attempt)
                continue
            if "sha256:" + h.hexdigest() != digest:
                raise VerificationError(
                    "blob-digest-mismatch", f"the registry returned bytes that do not hash to {digest}"
                )
            return size
        raise EnvironmentFailure("registry-auth-failed", f"{self.host}: blob {digest} refused")

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
        if self._no_referrers_api:
            return None
        params = {"artifactType": artifact_type} if artifact_type else None
        resp = self.request(
            "GET",
            f"/v2/{repo}/referrers/{digest}",
            scope=f"repository:{repo}:pull",
            params=params,
            headers={"Accept": OCI_INDEX},
        )
        if resp.status_code == 404 and "application/vnd.oci.image.index" not in resp.headers.get("Content-Type", ""):
            self._no_referrers_api = True
            return None
        if resp.status_code == 404:
            return []
        if resp.status_code != 200:
            raise EnvironmentFailure("registry-error", f"GET referrers {digest}: HTTP {resp.status_code}")
        manifests = manifest.check(resp.content, manifest.INDEX_MEDIA_TYPES[0], f"referrers of {digest}").get(
            "manifests", []
        )
        return [m for m in manifests if artifact_type is None or m.get("artifactType") == artifact_type]


def _media_type(header: str, data: bytes, where: str) -> str:
    """The manifest's media type (header, else its ``mediaType`` field); unknown types are refused."""
    media_type = header.split(";")[0].strip()
    if media_type in ("", "application/json", "application/octet-stream"):
        field_value = manifest.check(data, None, f"the manifest of {where}").get("mediaType")
        media_type = field_value if isinstance(field_value, str) else OCI_MANIFEST
    if media_type not in MANIFEST_TYPES:
        raise InputError("unsupported-media-type", f"{where} has media type {media_type!r}, which assay does not read")
    return media_type
