"""Real servers for integration tests: assay on a random loopback port, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ASSAY, require, require_tool, spawn, stop_process

PG_ADMIN = os.environ.get("ASSAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """``assay server`` in a child process, bound to 127.0.0.1."""

    data_dir: Path
    database: str | None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    workers: int = 1
    extra: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        args = [str(ASSAY), "server", "--data-dir", str(self.data_dir), "--host", "127.0.0.1", "--port", str(self.port)]
        if self.database:
            args += ["--database", self.database]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        args += self.extra
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        with self.log_path.open("ab") as out:
            self.proc = spawn(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **self.env})
        try:
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()  # a server that never became healthy must not outlive the test
            raise
        return self

    def _wait_healthy(self, timeout: float) -> None:
        assert self.proc is not None and self.log_path is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not become healthy")

    def stop(self) -> None:
        """SIGTERM (graceful shutdown), SIGKILL of the process group after 10 s."""
        stop_process(self.proc)

    def kill(self) -> None:
        """SIGKILL, as in a crash (no shutdown hooks run)."""
        stop_process(self.proc, signal.SIGKILL)

    def __enter__(self) -> ServerProcess:
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for SQLite in the data directory, else a fresh PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield None
        return
    yield from _fresh_pg()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database (for tests only PostgreSQL can run)."""
    yield from _fresh_pg()


def _fresh_pg() -> Iterator[str]:
    require(_pg_available(), f"PostgreSQL at {PG_ADMIN}")
    import psycopg

    name = "assay_test_" + secrets.token_hex(6)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrated_engine(kind: str, tmp_path: Path) -> Iterator[Any]:
    """A migrated engine on SQLite (in ``tmp_path``) or on a fresh PostgreSQL database, disposed afterwards."""
    from assay.store.db import database_url, migrate, open_engine

    if kind == "sqlite":
        eng = open_engine(f"sqlite:///{tmp_path / 'assay.db'}")
        migrate(eng)
        try:
            yield eng
        finally:
            eng.dispose()
        return
    for url in _fresh_pg():
        eng = open_engine(database_url(url, tmp_path))
        migrate(eng)
        try:
            yield eng
        finally:
            eng.dispose()


@pytest.fixture
def server(tmp_path: Path, database: str | None) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "data", database).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def dev_server(tmp_path: Path, database: str | None) -> Iterator[ServerProcess]:
    """A --dev server (built-in OIDC issuer), on SQLite and on PostgreSQL."""
    srv = ServerProcess(tmp_path / "data", database, extra=["--dev"]).start()
    try:
        yield srv
    finally:
        srv.stop()


def dev_token(srv: ServerProcess, flavour: str = "", **body: object) -> str:
    """Mint a token from a --dev server's issuer (``flavour`` "" for email, "github" for Actions-shaped)."""
    path = "/dev/oidc/token" if not flavour else f"/dev/oidc/{flavour}/token"
    r = httpx.post(srv.url + path, json=body, timeout=10)
    r.raise_for_status()
    return str(r.json()["id_token"])


MODULE = "/usr/lib/softhsm/libsofthsm2.so"
P256_OID_DER = bytes.fromhex("06082a8648ce3d030107")


@pytest.fixture
def hsm(tmp_path: Path) -> dict[str, str]:
    """A SoftHSM2 token 'assay-test' holding an EC P-256 key pair with id 2, made with PyKCS11."""
    util = require_tool("softhsm2-util")
    require(Path(MODULE).exists(), "softhsm2 PKCS#11 module")
    PyKCS11 = pytest.importorskip("PyKCS11")
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf), "PYKCS11LIB": MODULE, "ASSAY_HSM_PIN": "1234"}
    subprocess.run(
        [util, "--init-token", "--free", "--label", "assay-test", "--pin", "1234", "--so-pin", "5678"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        lib = PyKCS11.PyKCS11Lib()
        lib.load(MODULE)
        slot = next(s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == "assay-test")
        session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
        session.login("1234")
        common = [(PyKCS11.CKA_TOKEN, PyKCS11.CK_TRUE), (PyKCS11.CKA_LABEL, "release"), (PyKCS11.CKA_ID, (0x02,))]
        pub = [
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY),
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_ECDSA),
            (PyKCS11.CKA_VERIFY, PyKCS11.CK_TRUE),
            (PyKCS11.CKA_PRIVATE, PyKCS11.CK_FALSE),
            (PyKCS11.CKA_EC_PARAMS, P256_OID_DER),
            *common,
        ]
        priv = [
            (PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
            (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_ECDSA),
            (PyKCS11.CKA_SIGN, PyKCS11.CK_TRUE),
            (PyKCS11.CKA_SENSITIVE, PyKCS11.CK_TRUE),
            (PyKCS11.CKA_PRIVATE, PyKCS11.CK_TRUE),
            *common,
        ]
        session.generateKeyPair(pub, priv, mecha=PyKCS11.MechanismECGENERATEKEYPAIR)
        session.logout()
        session.closeSession()
    finally:
        if old is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = old
    return env


@dataclass
class RegistryProcess:
    """Debian's docker-registry (distribution 2.8) on a random loopback port, storage in a temp dir."""

    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    users: dict[str, str] | None = None  # htpasswd basic auth when set
    token_auth: str = ""  # an ``auth: token`` block (``assay registry auth-config``) when set

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _auth_section(self) -> str:
        if self.token_auth:
            return self.token_auth
        if not self.users:
            return ""
        import bcrypt

        htpasswd = self.root / "htpasswd"
        htpasswd.write_text(
            "".join(
                f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=5)).decode()}\n" for u, p in self.users.items()
            )
        )
        return f"auth:\n  htpasswd:\n    realm: assay-test\n    path: {htpasswd}\n"

    def start(self) -> RegistryProcess:
        binary = require_tool("docker-registry")
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: error\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.root / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n" + self._auth_section()
        )
        with (self.root / "registry.log").open("wb") as err:
            self.proc = spawn([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://{self.host}/v2/", timeout=1).status_code in (200, 401):
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("docker-registry did not start")

    def stop(self) -> None:
        stop_process(self.proc)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryProcess]:
    reg = RegistryProcess(tmp_path / "registry").start()
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[RegistryProcess]:
    """A second docker-registry requiring htpasswd basic auth (user ``alice``, password ``s3cret``)."""
    reg = RegistryProcess(tmp_path / "auth-registry", users={"alice": "s3cret"}).start()
    try:
        yield reg
    finally:
        reg.stop()


def tar_layer(files: dict[str, bytes | None]) -> bytes:
    """An uncompressed tar layer; ``None`` content writes an OCI whiteout (``.wh.NAME``) for that path."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            if content is None:
                head, _, base = name.rpartition("/")
                name, content = (f"{head}/" if head else "") + ".wh." + base, b""
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def build_image(
    store: Any, repo: str, tag: str | None, layers: list[bytes], platform: tuple[str, str] = ("linux", "amd64")
) -> tuple[str, int]:
    """Write an OCI image (tar layers, config) with assay's own client to a registry or layout.
    Returns (manifest digest, manifest size); ``tag=None`` stores it by digest only."""
    import hashlib
    import json

    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps(
        {"architecture": platform[1], "os": platform[0], "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": store.push_blob(repo, config),
            "size": len(config),
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": store.push_blob(repo, x), "size": len(x)}
            for x in layers
        ],
    }
    data = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    store.put_manifest(repo, tag or digest, data, manifest["mediaType"])
    return digest, len(data)


def build_index(store: Any, repo: str, tag: str, platforms: list[tuple[str, str]]) -> tuple[str, list[str]]:
    """A multi-arch index of one single-layer image per platform; returns (index digest, child digests)."""
    import hashlib
    import json

    children = []
    for os_, arch in platforms:
        d, size = build_image(store, repo, None, [tar_layer({f"bin/{arch}": arch.encode()})], (os_, arch))
        children.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": d,
                "size": size,
                "platform": {"os": os_, "architecture": arch},
            }
        )
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": children}
    data = json.dumps(index).encode()
    store.put_manifest(repo, tag, data, index["mediaType"])
    return "sha256:" + hashlib.sha256(data).hexdigest(), [c["digest"] for c in children]


def push_image(host: str, repo: str, tag: str, content: bytes) -> str:
    """Push a one-layer OCI image; returns its manifest digest."""
    import hashlib
    import json

    def blob(data: bytes) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = httpx.post(f"http://{host}/v2/{repo}/blobs/uploads/")
        loc = start.headers["Location"]
        url = loc if loc.startswith("http") else f"http://{host}{loc}"
        httpx.put(url + ("&" if "?" in url else "?") + f"digest={digest}", content=data).raise_for_status()
        return {"digest": digest, "size": len(data)}

    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **blob(content)}],
    }
    data = json.dumps(manifest).encode()
    httpx.put(
        f"http://{host}/v2/{repo}/manifests/{tag}", content=data, headers={"Content-Type": manifest["mediaType"]}
    ).raise_for_status()
    return "sha256:" + hashlib.sha256(data).hexdigest()
