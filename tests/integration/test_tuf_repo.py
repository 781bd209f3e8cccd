"""TUF repositories on the real server (SQLite and PostgreSQL), with python-tuf's ngclient as the client.

init → refresh and download; delegation and developer signing; TAP 15 hash bins; thresholds collected with
``sign-role``; root rotation; removing a developer's key; the dev ``sigstore`` project's trust targets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tuf.api.exceptions import RepositoryError, UnsignedMetadataError
from tuf.api.metadata import SuccinctRoles

from tests.integration.accesskit import fresh_database, start
from tests.integration.conftest import ServerProcess
from tests.integration.tufkit import Repo, make_repo


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def tuf_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    gen = fresh_database(request.param)
    database = next(gen)
    srv = start(tmp_path_factory.mktemp("tuf"), database)
    try:
        yield srv
    finally:
        srv.stop()
        gen.close()


@pytest.fixture
def repo(tuf_server: ServerProcess, tmp_path: Path) -> Repo:
    return make_repo(tuf_server, tmp_path)


def _file(repo: Repo, name: str, data: bytes) -> str:
    path = repo.work / name.replace("/", "_")
    path.write_bytes(data)
    return str(path)


def test_init_then_ngclient_refreshes_and_downloads(repo: Repo, tmp_path: Path) -> None:
    t = repo.key("t")[0]
    r = repo.assay("add-target", _file(repo, "hello.txt", b"hello tuf\n"), "--role", "targets", "--key", t)
    assert r.code == 0, r.err
    up = repo.updater(tmp_path / "c")
    up.refresh()
    info = up.get_targetinfo("hello.txt")
    assert info is not None and info.length == 10
    assert Path(up.download_target(info)).read_bytes() == b"hello tuf\n"
    # consistent snapshots: N.root.json history and hashed target names are served
    assert repo.served("1.root.json").json()["signed"]["consistent_snapshot"] is True
    digest = hashlib.sha256(b"hello tuf\n").hexdigest()
    import httpx

    got = httpx.get(f"{repo.srv.url}/tuf/{repo.project}/targets/{digest}.hello.txt", timeout=10)
    assert got.content == b"hello tuf\n" and "immutable" in got.headers["cache-control"]
    assert repo.served("timestamp.json").headers["cache-control"] == "no-cache"
    assert "immutable" in repo.served("1.root.json").headers["cache-control"]
    assert repo.served("2.root.json").status_code == 404
    status = repo.assay("status", "-o", "json")
    assert status.code == 0, status.err
    rows = {row["role"]: row for row in json.loads(status.out)["roles"]}
    assert rows["root"]["threshold"] == 2 and len(rows["root"]["keys"]) == 2 and rows["root"]["missing"] == 0
    assert rows["targets"]["version"] == 2 and rows["snapshot"]["version"] == 2 and rows["timestamp"]["version"] == 2
    text = repo.assay("status")
    assert "root" in text.out and "threshold 2 of 2 keys" in text.out


def test_delegation_and_developer_signing(repo: Repo, tmp_path: Path) -> None:
    t = repo.key("t")[0]
    dev_key, dev_pub = repo.key("dev")
    r = repo.assay("delegate", "--role", "dev", "--paths", "app/*", "--key", dev_pub, "--signer", t)
    assert r.code == 0, r.err
    r = repo.assay("add-target", _file(repo, "tool", b"tool v1"), "--path", "app/tool", "--role", "dev",
                   "--key", dev_key)  # fmt: skip
    assert r.code == 0, r.err
    up = repo.updater(tmp_path / "c")
    up.refresh()
    info = up.get_targetinfo("app/tool")
    assert info is not None
    assert Path(up.download_target(info, str(tmp_path / "tool"))).read_bytes() == b"tool v1"
    # a target outside the delegation's paths is refused, and nothing is published
    before = repo.versions()
    r = repo.assay("add-target", _file(repo, "evil", b"x"), "--path", "lib/evil", "--role", "dev", "--key", dev_key)
    assert r.code == 2 and "error[tuf-target-outside-delegation]" in r.err, r.err
    assert repo.versions() == before


def test_hash_bins(repo: Repo, tmp_path: Path) -> None:
    t = repo.key("t")[0]
    bins_key, bins_pub = repo.key("bins")
    r = repo.assay("delegate", "--role", "bin", "--succinct-bins", "16", "--signer", t)
    assert r.code == 2 and "error[tuf-no-key]" in r.err, r.err
    r = repo.assay("delegate", "--role", "bin", "--succinct-bins", "12", "--bin-key", bins_pub, "--signer", t)
    assert r.code == 2 and "error[tuf-delegation-invalid]" in r.err, r.err  # not a power of two
    r = repo.assay("delegate", "--role", "bin", "--succinct-bins", "16", "--bin-key", bins_pub, "--signer", t)
    assert r.code == 0, r.err
    succinct = SuccinctRoles([], 1, 4, "bin")
    path = "pkgs/a-1.0.tar.gz"
    role = succinct.get_role_for_target(path)
    r = repo.assay("add-target", _file(repo, "a.tgz", b"a 1.0"), "--path", path, "--role", role, "--key", bins_key)
    assert r.code == 0, r.err
    up = repo.updater(tmp_path / "c")
    up.refresh()
    info = up.get_targetinfo(path)
    assert info is not None and info.length == 5
    wrong = next(n for n in succinct.get_roles() if n != role)
    r = repo.assay("add-target", _file(repo, "b.tgz", b"b"), "--path", path, "--role", wrong, "--key", bins_key)
    assert r.code == 2 and "error[tuf-target-outside-delegation]" in r.err, r.err


def test_threshold_collected_with_sign_role(repo: Repo, tmp_path: Path) -> None:
    t = repo.key("t")[0]
    (a, a_pub), (b, b_pub) = repo.key("a"), repo.key("b")
    r = repo.assay("delegate", "--role", "rel", "--paths", "rel/*", "--key", a_pub, "--key", b_pub,
                   "--threshold", "2", "--signer", t)  # fmt: skip
    assert r.code == 0, r.err
    before = repo.versions()
    f = _file(repo, "r1", b"release 1")
    r = repo.assay("add-target", f, "--path", "rel/r1", "--role", "rel", "--key", a)
    assert r.code == 2 and "error[tuf-threshold-not-met]" in r.err, r.err
    assert repo.versions() == before
    r = repo.assay("add-target", f, "--path", "rel/r1", "--role", "rel", "--key", a, "--partial")
    assert r.code == 0 and "pending" in r.out, r.err
    assert repo.versions() == before
    row = next(x for x in repo.status()["roles"] if x["role"] == "rel")
    assert row["pending"]["missing"] == 1
    up = repo.updater(tmp_path / "c1")
    up.refresh()
    with pytest.raises(RepositoryError, match="not part of snapshot"):
        up.get_targetinfo("rel/r1")  # rel has no published version yet: clients cannot see the pending one
    r = repo.assay("sign-role", "--role", "rel", "--signer", b)
    assert r.code == 0 and "published" in r.out, r.err
    up = repo.updater(tmp_path / "c2")
    up.refresh()
    assert up.get_targetinfo("rel/r1") is not None
    r = repo.assay("sign-role", "--role", "rel", "--signer", b)
    assert r.code == 2 and "error[tuf-nothing-pending]" in r.err


def test_root_rotation_reaches_ngclient(repo: Repo, tmp_path: Path) -> None:
    r1, r2 = repo.key("r1")[0], repo.key("r2")[0]
    r3, r3_pub = repo.key("r3")
    before = repo.versions()
    # signed only by the new key: version 1's threshold (2 of r1, r2) is not met
    r = repo.assay("rotate-root", "--root-key", r3_pub, "--root-threshold", "1", "--signer", r3)
    assert r.code == 2 and "error[tuf-threshold-not-met]" in r.err, r.err
    # signed only by the old keys: the new root's own threshold (r3) is not met
    r = repo.assay("rotate-root", "--root-key", r3_pub, "--root-threshold", "1", "--signer", r1, "--signer", r2)
    assert r.code == 2 and "error[tuf-threshold-not-met]" in r.err, r.err
    assert repo.versions() == before
    r = repo.assay("rotate-root", "--root-key", r3_pub, "--root-threshold", "1", "--signer", r1, "--signer", r2,
                   "--signer", r3)  # fmt: skip
    assert r.code == 0, r.err
    up = repo.updater(tmp_path / "c")  # bootstrapped with root v1: follows 2.root.json
    up.refresh()
    trusted = json.loads((tmp_path / "c" / "meta" / "root.json").read_bytes())
    assert trusted["signed"]["version"] == 2
    # the next rotation needs r3 only (r1, r2 no longer count)
    r = repo.assay("rotate-root", "--signer", r1, "--signer", r2)
    assert r.code == 2 and "error[tuf-signature-unknown-key]" in r.err, r.err


def test_removed_key_stops_counting_at_once(repo: Repo, tmp_path: Path) -> None:
    t = repo.key("t")[0]
    (d1, d1_pub), (d2, d2_pub) = repo.key("d1"), repo.key("d2")
    r = repo.assay("delegate", "--role", "dev", "--paths", "*", "--key", d1_pub, "--key", d2_pub, "--signer", t)
    assert r.code == 0, r.err
    r = repo.assay("add-target", _file(repo, "x", b"by d1"), "--role", "dev", "--key", d1)
    assert r.code == 0, r.err
    up = repo.updater(tmp_path / "c1")
    up.refresh()
    assert up.get_targetinfo("x") is not None
    # the policy writer removes d1: a new targets version delegating dev to d2 only
    r = repo.assay("delegate", "--role", "dev", "--paths", "*", "--key", d2_pub, "--signer", t)
    assert r.code == 0, r.err
    up = repo.updater(tmp_path / "c2")
    up.refresh()
    with pytest.raises(UnsignedMetadataError):
        up.get_targetinfo("x")  # the published dev version is signed by d1 only
    before = repo.versions()
    r = repo.assay("add-target", _file(repo, "y", b"by d1 again"), "--role", "dev", "--key", d1)
    assert r.code == 2 and "error[tuf-signature-unknown-key]" in r.err, r.err
    assert repo.versions() == before
    r = repo.assay("add-target", _file(repo, "y", b"by d2"), "--role", "dev", "--key", d2)
    assert r.code == 0, r.err
    up = repo.updater(tmp_path / "c3")
    up.refresh()
    assert up.get_targetinfo("y") is not None


def test_dev_server_publishes_sigstore_trust(tuf_server: ServerProcess, tmp_path: Path) -> None:
    from tuf.ngclient import Updater

    root = (tuf_server.data_dir / "tuf" / "sigstore" / "root.json").read_bytes()
    base = f"{tuf_server.url}/tuf/sigstore/"
    (tmp_path / "m").mkdir()
    up = Updater(metadata_dir=str(tmp_path / "m"), metadata_base_url=base, target_base_url=base + "targets/",
                 target_dir=str(tmp_path), bootstrap=root)  # fmt: skip
    up.refresh()
    for name, media in (("trusted_root.json", "trustedroot"), ("signing_config.v0.2.json", "signingconfig.v0.2")):
        info = up.get_targetinfo(name)
        assert info is not None, name
        doc = json.loads(Path(up.download_target(info, str(tmp_path / name))).read_bytes())
        assert media in doc["mediaType"]
    from tests.integration.accesskit import admin_api

    again = admin_api(tuf_server).ok("POST", "/api/v1/tuf/republish")
    assert again == {"project": "sigstore", "published": None}  # bytes unchanged: no new version


def test_nested_delegation_stays_within_every_parent(repo: Repo, tmp_path: Path) -> None:
    t = repo.key("t")[0]
    dev, dev_pub = repo.key("dev")
    sub, sub_pub = repo.key("sub")
    # TUF patterns match segment by segment: app/* does not cover app/sub/s, app/*/* does
    r = repo.assay("delegate", "--role", "dev", "--paths", "app/*", "--paths", "app/*/*", "--key", dev_pub,
                   "--signer", t)  # fmt: skip
    assert r.code == 0, r.err
    r = repo.assay("delegate", "--delegator", "dev", "--role", "sub", "--paths", "app/sub/*", "--paths", "lib/*",
                   "--key", sub_pub, "--signer", dev)  # fmt: skip
    assert r.code == 0, r.err
    r = repo.assay("add-target", _file(repo, "s", b"sub's"), "--path", "app/sub/s", "--role", "sub", "--key", sub)
    assert r.code == 0, r.err
    up = repo.updater(tmp_path / "c")
    up.refresh()
    assert up.get_targetinfo("app/sub/s") is not None
    # lib/* is in sub's own delegation but not in dev's: unreachable, so refused
    r = repo.assay("add-target", _file(repo, "l", b"lib"), "--path", "lib/x", "--role", "sub", "--key", sub)
    assert r.code == 2 and "error[tuf-target-outside-delegation]" in r.err, r.err


def test_cli_refusals(repo: Repo, tuf_server: ServerProcess) -> None:
    from tests.integration.accesskit import grant, session, unique

    t = repo.key("t")[0]
    r = repo.assay("add-target", _file(repo, "x", b"x"), "--path", "../x", "--role", "targets", "--key", t)
    assert r.code == 2 and "error[tuf-target-path-escapes]" in r.err, r.err
    email = unique("pub") + "@example.com"
    grant(repo.admin, repo.project, email, "publisher")
    token = session(tuf_server, email)
    dev_pub = repo.key("dev")[1]
    before = repo.versions()
    r = repo.assay("delegate", "--role", "dev", "--paths", "*", "--key", dev_pub, "--signer", t, token=token)
    assert r.code == 2 and "error[insufficient-role]" in r.err, r.err
    r = repo.assay("rotate-root", "--signer", repo.key("r1")[0], "--signer", repo.key("r2")[0], token=token)
    assert r.code == 2 and "error[insufficient-role]" in r.err, r.err
    assert repo.versions() == before
    # a publisher may sign the top-level targets role with its key
    r = repo.assay("add-target", _file(repo, "ok", b"ok"), "--role", "targets", "--key", t, token=token)
    assert r.code == 0, r.err
    r = repo.assay("init", "--root-key", t, "--targets-key", t)
    assert r.code == 2 and "error[tuf-already-initialised]" in r.err, r.err


def test_hash_prefix_delegation(repo: Repo, tmp_path: Path) -> None:
    t = repo.key("t")[0]
    hp, hp_pub = repo.key("hp")
    inside = "hp/in.bin"
    prefix = hashlib.sha256(inside.encode()).hexdigest()[:2]
    outside = next(p for p in (f"hp/out{i}.bin" for i in range(1000))
                   if not hashlib.sha256(p.encode()).hexdigest().startswith(prefix))  # fmt: skip
    r = repo.assay("delegate", "--role", "hp", "--hash-prefixes", prefix, "--key", hp_pub, "--signer", t)
    assert r.code == 0, r.err
    r = repo.assay("add-target", _file(repo, "in", b"in"), "--path", inside, "--role", "hp", "--key", hp)
    assert r.code == 0, r.err
    up = repo.updater(tmp_path / "c")
    up.refresh()
    assert up.get_targetinfo(inside) is not None
    r = repo.assay("add-target", _file(repo, "out", b"out"), "--path", outside, "--role", "hp", "--key", hp)
    assert r.code == 2 and "error[tuf-target-outside-delegation]" in r.err, r.err
