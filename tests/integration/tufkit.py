"""Helpers for the TUF repository tests: key files, a project with a repository, python-tuf's ngclient as the peer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Run, run_assay
from tests.integration.accesskit import Api, admin_api, new_project
from tests.integration.conftest import ServerProcess


def keypair(where: Path, name: str, key_type: str = "ecdsa-p256") -> tuple[str, str]:
    """(private key file, public key file) written under ``where``."""
    from assay.crypto import keys

    where.mkdir(parents=True, exist_ok=True)
    priv = keys.generate(key_type)
    key, pub = where / f"{name}.key", where / f"{name}.pub"
    keys.write_private(key, keys.private_pem(priv, None))
    pub.write_bytes(keys.public_pem(priv.public_key()))
    return str(key), str(pub)


@dataclass
class Repo:
    """A public project with a TUF repository: root keys r1, r2 (threshold 2), targets key t."""

    srv: ServerProcess
    admin: Api
    project: str
    work: Path
    root: bytes

    def assay(self, *args: str, token: str | None = None) -> Run:
        """``assay tuf ...`` against this project as the administrator (or ``token``)."""
        return run_assay("tuf", *args, "--server", self.srv.url, "--project", self.project,
                         "--token", token or str(self.admin.bearer), cwd=self.work)  # fmt: skip

    def key(self, name: str) -> tuple[str, str]:
        k, p = self.work / f"{name}.key", self.work / f"{name}.pub"
        return (str(k), str(p)) if k.exists() else keypair(self.work, name)

    def status(self) -> dict[str, Any]:
        return dict(self.admin.ok("GET", f"/api/v1/projects/{self.project}/tuf/status"))

    def versions(self) -> dict[str, Any]:
        """Every role's published version (the "nothing published" check)."""
        return {row["role"]: row["version"] for row in self.status()["roles"]}

    def served(self, filename: str) -> httpx.Response:
        return httpx.get(f"{self.srv.url}/tuf/{self.project}/{filename}", timeout=10)

    def current(self, role: str) -> Any:
        """The current published version of ``role`` as python-tuf Metadata."""
        from tuf.api.metadata import Metadata

        version = self.versions()[role]
        return Metadata.from_bytes(self.served(f"{version}.{role}.json").content)

    def put_role(self, role: str, data: bytes, token: str | None = None, partial: bool = False) -> httpx.Response:
        api = self.admin if token is None else Api(self.srv, token)
        return api("PUT", f"/api/v1/projects/{self.project}/tuf/roles/{role}", content=data,
                   params={"partial": "true"} if partial else {})  # fmt: skip

    def updater(self, tmp: Path, root: bytes | None = None) -> Any:
        """A fresh ngclient Updater on this repository, bootstrapped with ``root`` (default: root v1)."""
        from tuf.ngclient import Updater

        meta, targets = tmp / "meta", tmp / "targets"
        meta.mkdir(parents=True, exist_ok=True)
        targets.mkdir(parents=True, exist_ok=True)
        base = f"{self.srv.url}/tuf/{self.project}/"
        return Updater(metadata_dir=str(meta), metadata_base_url=base, target_base_url=base + "targets/",
                       target_dir=str(targets), bootstrap=root or self.root)  # fmt: skip


def make_repo(srv: ServerProcess, tmp: Path, public: bool = True) -> Repo:
    """Create a project and initialise its TUF repository with ``assay tuf init``."""
    admin = admin_api(srv)
    project = new_project(admin)
    if public:
        admin.ok("PUT", f"/api/v1/projects/{project}/visibility", {"visibility": "public"})
    work = tmp / project
    work.mkdir(parents=True)
    repo = Repo(srv, admin, project, work, b"")
    r1, r2, t = repo.key("r1")[0], repo.key("r2")[0], repo.key("t")[0]
    r = repo.assay("init", "--root-key", r1, "--root-key", r2, "--root-threshold", "2", "--targets-key", t)
    assert r.code == 0, r.err
    repo.root = (work / f"{project}.root.json").read_bytes()
    assert json.loads(repo.root)["signed"]["version"] == 1
    return repo


@dataclass
class Signed:
    """A repository initialised in-process (python-tuf Metadata API): its keys and its versions so far."""

    root_signer: Any
    targets_signer: Any
    online: Any
    root: Any
    targets: Any

    def bytes(self, md: Any) -> bytes:
        from assay.tuf.repository import to_bytes

        return to_bytes(md)

    def next_targets(self, **changes: Any) -> bytes:
        """Targets version N+1, signed by the targets key (``changes``: attributes of the Targets payload)."""
        from assay.tuf import offline

        self.targets.signed.version += 1
        self.targets.signed.expires = offline.expiry(30)
        for k, v in changes.items():
            setattr(self.targets.signed, k, v)
        return self.bytes(offline.sign(self.targets, [self.targets_signer]))

    def next_root(self) -> bytes:
        from assay.tuf import offline

        self.root.signed.version += 1
        return self.bytes(offline.sign(self.root, [self.root_signer]))


def online_key(url: str) -> Any:
    from securesystemslib.signer import SSlibKey

    doc = dict(httpx.get(url + "/api/v1/tuf/online-keys", timeout=10).json()["keys"][0])
    return SSlibKey.from_dict(doc.pop("keyid"), doc)


def build(url: str, delegations: Any = None) -> tuple[Signed, dict[str, str]]:
    """Root v1 and targets v1 for a new repository (fresh keys), and the init request body."""
    from securesystemslib.signer import CryptoSigner
    from tuf.api.metadata import Metadata, Targets

    from assay.tuf import offline

    rs, ts = CryptoSigner.generate_ecdsa(), CryptoSigner.generate_ecdsa()
    online = online_key(url)
    root = offline.sign(offline.build_root([rs.public_key], 1, [ts.public_key], 1, online, 30), [rs])
    targets = offline.sign(Metadata(Targets(expires=offline.expiry(30), delegations=delegations)), [ts])
    signed = Signed(rs, ts, online, root, targets)
    return signed, {"root": signed.bytes(root).decode(), "targets": signed.bytes(targets).decode()}


def init_in_process(admin: Api, project: str, delegations: Any = None) -> Signed:
    """A repository for ``project`` created through the HTTP API as ``admin``."""
    signed, body = build(admin.srv.url, delegations)
    r = admin("POST", f"/api/v1/projects/{project}/tuf", body)
    assert r.status_code == 201, r.text
    return signed
