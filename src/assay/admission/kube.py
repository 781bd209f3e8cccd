"""Namespace labels from the Kubernetes API (for ``match.namespaceSelector``), cached for a minute.

In a cluster: ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`` with the pod's service
account token and CA. A namespace that cannot be read has no labels (selectors then do not match:
the request is decided by the policies that apply without labels, and fails closed if none do).
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from assay.errors import InputError

log = logging.getLogger("assay.admission")
SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass
class NamespaceLabels:
    """``GET /api/v1/namespaces/NAME`` → ``metadata.labels``, cached ``ttl`` seconds."""

    base_url: str
    token_file: Path
    ca_file: Path | None
    ttl: float = 60.0
    _cache: dict[str, tuple[float, dict[str, str] | None]] = field(default_factory=dict, repr=False)
    _client: httpx.Client | None = field(default=None, repr=False)

    @classmethod
    def in_cluster(cls) -> NamespaceLabels:
        """The API server and service account of the pod this runs in."""
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise InputError(
                "not-in-cluster", "--namespace-labels kubernetes needs KUBERNETES_SERVICE_HOST (run inside a pod)"
            )
        return cls(f"https://{host}:{port}", SA_DIR / "token", SA_DIR / "ca.crt")

    def _http(self) -> httpx.Client:
        if self._client is None:
            verify = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else True
            self._client = httpx.Client(base_url=self.base_url, verify=verify, timeout=2.0)
        return self._client

    def peek(self, namespace: str) -> tuple[bool, dict[str, str] | None]:
        """(True, labels) when a fresh answer is cached (no I/O)."""
        hit = self._cache.get(namespace)
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def __call__(self, namespace: str) -> dict[str, str] | None:
        """The namespace's labels, or None when it cannot be read."""
        hit = self._cache.get(namespace)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        labels: dict[str, str] | None = None
        try:
            token = self.token_file.read_text().strip()  # re-read: projected tokens rotate
            resp = self._http().get(f"/api/v1/namespaces/{namespace}", headers={"Authorization": f"Bearer {token}"})
            if resp.status_code == 200:
                raw = (resp.json().get("metadata") or {}).get("labels") or {}
                labels = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
            else:
                log.warning("namespace %s: the API answered HTTP %s", namespace, resp.status_code)
        except (OSError, httpx.HTTPError, ValueError, AttributeError) as exc:
            log.warning("namespace %s: labels not read: %s", namespace, exc)
        self._cache[namespace] = (time.monotonic() + (self.ttl if labels is not None else 5.0), labels)
        return labels
