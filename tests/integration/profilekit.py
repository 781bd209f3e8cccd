"""Helpers for the profile tests: a --dev server with a fast scheduler, a project, and polling."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import run_assay
from tests.integration.accesskit import ADMIN, Api, admin_api, new_project, session, start
from tests.integration.conftest import ServerProcess

FAST = ["--profile-tick", "0.3", "--profile-min-interval", "1", "--alert-backoff", "0.2"]


def fast_server(tmp: Path, database: str | None, *extra: str) -> ServerProcess:
    """A --dev server whose scheduler looks for work every 0.3 s and accepts 1 s intervals."""
    return start(tmp, database, *FAST, *extra)


def env_for(srv: ServerProcess, email: str = ADMIN) -> dict[str, str]:
    """Environment for ``run_assay`` talking to ``srv`` as ``email``."""
    return {"ASSAY_SERVER": srv.url, "ASSAY_TOKEN": session(srv, email)}


def project_on(srv: ServerProcess) -> tuple[Api, str]:
    admin = admin_api(srv)
    return admin, new_project(admin)


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 30.0, every: float = 0.2) -> Any:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def status(admin: Api, project: str, name: str) -> dict[str, Any]:
    r = admin("GET", f"/api/v1/projects/{project}/profiles/{name}/status", params={"detailed": "true"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def rows(admin: Api, project: str, name: str) -> list[dict[str, Any]]:
    return [row for e in status(admin, project, name)["entities"] for row in e["rows"]]


def key_profile(name: str, public_pem: str, interval: str = "1s", alert: str = "on", selectors: Any = None) -> str:
    """A profile with one signature rule trusting a key (inline PEM)."""
    import json

    doc = {
        "apiVersion": "assay.dev/v1",
        "kind": "Profile",
        "metadata": {"name": name},
        "spec": {
            "alert": alert,
            "interval": interval,
            "rules": [{"name": "signed", "signature": {"authorities": {"keys": [public_pem]}}}],
        },
    }
    if selectors is not None:
        doc["spec"]["selectors"] = selectors
    return json.dumps(doc)


def keypair(w: Path, prefix: str = "k") -> str:
    assert run_assay("keygen", "--output-prefix", prefix, cwd=w).code == 0
    return (w / f"{prefix}.pub").read_text()


def tag_manifest(host: str, repo: str, src: str, tags: list[str]) -> None:
    """Give an existing manifest more tags."""
    r = httpx.get(
        f"http://{host}/v2/{repo}/manifests/{src}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}
    )
    r.raise_for_status()
    with httpx.Client() as c:
        for t in tags:
            c.put(
                f"http://{host}/v2/{repo}/manifests/{t}", content=r.content,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            ).raise_for_status()  # fmt: skip
