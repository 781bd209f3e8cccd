"""Every upload the server refuses, on SQLite and PostgreSQL: its 4xx, its reason code, and nothing published."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import DelegatedRole, Delegations, Metadata, TargetFile, Targets

from tests.integration.accesskit import Api, admin_api, fresh_database, grant, new_project, session, start, unique
from tests.integration.conftest import ServerProcess
from tests.integration.tufkit import Signed, build, init_in_process


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def tuf_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    gen = fresh_database(request.param)
    database = next(gen)
    srv = start(tmp_path_factory.mktemp("tufbad"), database)
    try:
        yield srv
    finally:
        srv.stop()
        gen.close()


class Case:
    def __init__(self, srv: ServerProcess) -> None:
        self.srv = srv
        self.admin = admin_api(srv)
        self.project = new_project(self.admin)
        self.signed: Signed = init_in_process(self.admin, self.project)
        self.base = f"/api/v1/projects/{self.project}/tuf"

    def state(self) -> Any:
        return self.admin.ok("GET", f"{self.base}/status")

    def put(self, path: str, content: bytes, who: Api | None = None, **kw: Any) -> httpx.Response:
        return (who or self.admin)("PUT", f"{self.base}/{path}", content=content, **kw)

    def refused(self, r: httpx.Response, reason: str, status: int = 400) -> None:
        assert (r.status_code, r.json()["reason"]) == (status, reason), r.text


@pytest.fixture
def case(tuf_server: ServerProcess) -> Case:
    return Case(tuf_server)


def _targets(case: Case, version: int = 2, signer: Any = None, days: float = 30, **fields: Any) -> bytes:
    md = Metadata(Targets(version=version, expires=(datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0),
                          **fields))  # fmt: skip
    md.sign(signer or case.signed.targets_signer)
    return case.signed.bytes(md)


def test_each_bad_upload_has_its_reason_and_publishes_nothing(case: Case) -> None:
    before = case.state()
    stranger = CryptoSigner.generate_ecdsa()
    bad: list[tuple[str, bytes, str]] = [
        ("roles/targets", b"{not json", "tuf-metadata-malformed"),
        ("roles/targets", b'{"signed": {"_type": "targets"}, "signatures": []}', "tuf-metadata-malformed"),
        ("roles/targets", case.signed.bytes(case.signed.root), "tuf-metadata-malformed"),  # a root as targets
        ("roles/nobody", _targets(case), "tuf-role-unknown"),
        ("roles/snapshot", _targets(case), "tuf-role-unknown"),
        ("roles/targets", _targets(case, signer=stranger), "tuf-signature-unknown-key"),
        ("roles/targets", _targets(case, version=1), "tuf-version-not-increasing"),
        ("roles/targets", _targets(case, days=-1), "tuf-expired"),
        ("root", case.signed.bytes(case.signed.root), "tuf-version-not-increasing"),  # root v1 again
    ]
    for path in ("../etc/passwd", "/etc/passwd", "a\\b", "a/./b", "a//b", "a/../../b", "c:/x", "a\nb"):
        tf = TargetFile(1, {"sha256": "0" * 64}, path)
        bad.append(("roles/targets", _targets(case, targets={path: tf}), "tuf-target-path-escapes"))
    tf = TargetFile.from_data("never-uploaded", b"missing", ["sha256"])
    bad.append(("roles/targets", _targets(case, targets={"never-uploaded": tf}), "tuf-target-missing"))
    assert case.put("blobs", b"uploaded bytes").status_code == 201
    wrong = TargetFile(999, {"sha256": hashlib.sha256(b"uploaded bytes").hexdigest()}, "t")
    bad.append(("roles/targets", _targets(case, targets={"t": wrong}), "tuf-target-invalid"))  # length differs
    own = Delegations({}, roles={"../up": DelegatedRole("../up", [], 1, False, paths=["*"])})
    bad.append(("roles/targets", _targets(case, delegations=own), "tuf-role-name-invalid"))
    for path, content, reason in bad:
        case.refused(case.put(path, content), reason)
    # a tampered payload: the targets key's signature no longer verifies
    md = Metadata.from_bytes(_targets(case))
    md.signed.version = 3
    case.refused(case.put("roles/targets", case.signed.bytes(md)), "tuf-signature-invalid")
    # root v3 while v1 is current (a broken rotation chain)
    case.signed.root.signed.version += 1
    case.refused(case.put("root", case.signed.next_root()), "tuf-version-not-increasing")
    # endless data: metadata beyond the size limit
    huge = {f"f{i:06d}": TargetFile(1, {"sha256": "0" * 64}, f"f{i:06d}") for i in range(16000)}
    case.refused(case.put("roles/targets", _targets(case, targets=huge)), "tuf-metadata-too-large")
    assert case.state() == before


def test_root_checks(case: Case, tuf_server: ServerProcess) -> None:
    before = case.state()
    # root v2 signed by the old key only (the new root's key did not sign)
    new_key = CryptoSigner.generate_ecdsa()
    root = case.signed.root
    root.signed.version = 2
    root.signed.revoke_key(case.signed.root_signer.public_key.keyid, "root")
    root.signed.add_key(new_key.public_key, "root")
    root.signatures.clear()
    root.sign(case.signed.root_signer)
    case.refused(case.put("root", case.signed.bytes(root)), "tuf-threshold-not-met")
    # kept pending with ?partial=true, then completed by the new key: published
    r = case.put("root", case.signed.bytes(root), params={"partial": "true"})
    assert r.status_code == 202 and r.json()["missing"] == 1, r.text
    assert case.state()["roles"][0]["version"] == 1
    root.signatures.clear()
    root.sign(new_key)
    r = case.put("root", case.signed.bytes(root), params={"partial": "true"})
    assert r.status_code == 201 and r.json()["version"] == 2, r.text
    assert case.state() != before
    # a repository exists already; an init body that is not two metadata documents
    _, body = build(tuf_server.url)
    case.refused(case.admin("POST", case.base, body), "tuf-already-initialised")
    other = new_project(case.admin)
    case.refused(case.admin("POST", f"/api/v1/projects/{other}/tuf", {"root": 1}), "tuf-metadata-malformed")
    assert case.admin("GET", f"/api/v1/projects/{other}/tuf/status").status_code == 404


def test_online_key_must_be_the_servers(tuf_server: ServerProcess) -> None:
    from assay.tuf import offline

    admin = admin_api(tuf_server)
    project = new_project(admin)
    rs, ts, stranger = (CryptoSigner.generate_ecdsa() for _ in range(3))
    root = offline.sign(offline.build_root([rs.public_key], 1, [ts.public_key], 1, stranger.public_key, 30), [rs])
    targets = offline.sign(Metadata(Targets(expires=offline.expiry(30))), [ts])
    from assay.tuf.repository import to_bytes

    r = admin("POST", f"/api/v1/projects/{project}/tuf",
              {"root": to_bytes(root).decode(), "targets": to_bytes(targets).decode()})  # fmt: skip
    assert (r.status_code, r.json()["reason"]) == (400, "tuf-online-key-missing"), r.text
    assert admin("GET", f"/api/v1/projects/{project}/tuf/status").status_code == 404
    r = admin("PUT", f"/api/v1/projects/{project}/tuf/blobs", content=b"bytes for no repository")
    assert (r.status_code, r.json()["reason"]) == (400, "tuf-not-initialised"), r.text
    assert httpx.get(f"{tuf_server.url}/tuf/{project}/timestamp.json", timeout=10).status_code in (401, 404)


def test_uploads_need_the_role(case: Case, tuf_server: ServerProcess, tmp_path: Path) -> None:
    before = case.state()
    viewer, publisher = unique("viewer") + "@example.com", unique("pub") + "@example.com"
    grant(case.admin, case.project, viewer, "viewer")
    grant(case.admin, case.project, publisher, "publisher")
    as_viewer, as_publisher = (
        Api(tuf_server, session(tuf_server, viewer)),
        Api(tuf_server, session(tuf_server, publisher)),
    )
    case.refused(case.put("roles/targets", _targets(case), as_viewer), "insufficient-role", 403)
    case.refused(case.put("blobs", b"x", as_viewer), "insufficient-role", 403)
    # a publisher may sign targets, but not change delegations (policy_writer) or the root (admin)
    dev = CryptoSigner.generate_ecdsa()
    delegations = Delegations({dev.public_key.keyid: dev.public_key},
                              roles={"dev": DelegatedRole("dev", [dev.public_key.keyid], 1, False, paths=["*"])})  # fmt: skip
    case.refused(case.put("roles/targets", _targets(case, delegations=delegations), as_publisher),
                 "insufficient-role", 403)  # fmt: skip
    case.refused(case.put("root", case.signed.next_root(), as_publisher), "insufficient-role", 403)
    anonymous = Api(tuf_server, None)
    assert case.put("roles/targets", _targets(case), anonymous).status_code == 401
    assert case.state() == before
    r = case.put("roles/targets", _targets(case), as_publisher)
    assert r.status_code == 201, r.text
