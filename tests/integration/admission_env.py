"""A world for admission tests: docker-registry with signed, unsigned and wrong-identity images, keys,
policies, and ``assay admission serve`` over HTTPS on a random loopback port."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ASSAY, run_assay, spawn, stop_process
from tests.integration.conftest import RegistryProcess, free_port, push_image


def write_cert(directory: Path, name: str = "localhost") -> tuple[Path, Path, Path]:
    """(cert, key, ca) for ``name`` made by assay's own installer code."""
    from assay.admission.install import generate_cert

    tls = generate_cert(name, "test")
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "tls.crt", directory / "tls.key", directory / "ca.crt"
    for p, data in zip(paths, (tls.cert_pem, tls.key_pem, tls.ca_pem), strict=True):
        p.write_bytes(data)
    return paths


def policy_yaml(name: str, images: list[str], key: str = "k.pub", mode: str = "enforce", extra_match: str = "",
                extra_spec: str = "") -> str:  # fmt: skip
    globs = "".join(f"      - {g!r}\n" for g in images)
    return (
        f"apiVersion: assay.dev/v1\nkind: Policy\nmetadata:\n  name: {name}\nspec:\n  mode: {mode}\n{extra_spec}"
        f"  match:\n    images:\n{globs}{extra_match}"
        f"  require:\n    - name: signed-by-release-key\n      signature:\n        authorities:\n          keys: [{key}]\n"
    )


@dataclass
class World:
    """Registry content: name -> (image with tag, digest)."""

    root: Path
    registry: RegistryProcess
    images: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(self, name: str, repo: str, tag: str, content: bytes, key: str | None) -> tuple[str, str]:
        digest = push_image(self.registry.host, repo, tag, content)
        image = f"{self.registry.host}/{repo}:{tag}"
        if key is not None:
            r = run_assay("sign", image, "--key", key, "--insecure", cwd=self.root)
            assert r.code == 0, r.err
        self.images[name] = (image, digest)
        return image, digest


def make_world(root: Path) -> World:
    """signed (release key), unsigned, wrong identity (another key), plus a second signed image."""
    root.mkdir(parents=True, exist_ok=True)
    reg = RegistryProcess(root / "registry").start()
    w = World(root, reg)
    try:
        for prefix in ("k", "other"):
            assert run_assay("keygen", "--output-prefix", prefix, cwd=root).code == 0
        w.add("signed", "team/web", "v1", b"web layer", "k.key")
        w.add("signed2", "team/api", "v2", b"api layer", "k.key")
        w.add("signed3", "team/worker", "v3", b"worker layer", "k.key")
        w.add("unsigned", "team/unsigned", "v1", b"nobody signed this", None)
        w.add("wrong", "team/wrong", "v1", b"signed by someone else", "other.key")
    except BaseException:
        reg.stop()
        raise
    return w


@dataclass
class Webhook:
    """``assay admission serve`` in a child process."""

    root: Path
    policy: Path
    ca: Path
    args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def start(self, ready: bool = True, timeout: float = 30.0) -> Webhook:
        cert, key = self.ca.parent / "tls.crt", self.ca.parent / "tls.key"
        args = [str(ASSAY), "admission", "serve", "--policy", str(self.policy), "--tls-cert", str(cert),
                "--tls-key", str(key), "--port", str(self.port), "--host", "127.0.0.1", "--insecure", *self.args]  # fmt: skip
        with (self.root / f"webhook-{self.port}.log").open("ab") as log:
            self.proc = spawn(args, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            self._wait_ready(ready, timeout)
        except BaseException:
            self.stop()  # a webhook that never became ready must not outlive the test
            raise
        return self

    def _wait_ready(self, ready: bool, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"webhook exited: {self.log()[-2000:]}")
            try:
                r = httpx.get(self.url + ("/readyz" if ready else "/healthz"), verify=self.ssl(), timeout=1)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"webhook did not become ready: {self.log()[-2000:]}")

    def log(self) -> str:
        return (self.root / f"webhook-{self.port}.log").read_text(errors="replace")

    def ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.ssl(), timeout=30, **kw)

    def post(self, hook: str, review: dict[str, Any]) -> dict[str, Any]:
        with self.client() as c:
            r = c.post(f"/{hook}", json=review)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["apiVersion"] == "admission.k8s.io/v1" and doc["kind"] == "AdmissionReview"
        assert doc["response"]["uid"] == review["request"]["uid"]
        return dict(doc["response"])

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples whose labels include ``labels``."""
        from prometheus_client.parser import text_string_to_metric_families

        with self.client() as c:
            text = c.get("/metrics").text
        total = 0.0
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    total += s.value
        return total

    def stop(self) -> None:
        stop_process(self.proc)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
