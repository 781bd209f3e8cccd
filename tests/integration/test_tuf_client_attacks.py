"""``assay tuf client`` (python-tuf ngclient) against a malicious mirror of a real assay TUF repository.

Each attack of the TUF threat model is served by :class:`~tests.integration.tufmirror.Mirror` (tampered copies
of what the real server published, forged with the server's own online key where the attack needs a compromised
snapshot/timestamp key) and must be refused with its own reason code, exit 1; SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.integration.accesskit import fresh_database, start
from tests.integration.conftest import ServerProcess
from tests.integration.tufkit import Repo, make_repo
from tests.integration.tufmirror import ENDLESS, Client, Forger, Mirror, refused


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def tuf_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    gen = fresh_database(request.param)
    database = next(gen)
    srv = start(tmp_path_factory.mktemp("tufc"), database)
    try:
        yield srv
    finally:
        srv.stop()
        gen.close()


@pytest.fixture
def repo(tuf_server: ServerProcess, tmp_path: Path) -> Repo:
    """A project repository with a top-level target ``hello.txt`` and a role ``dev`` trusted for ``app/*``."""
    r = make_repo(tuf_server, tmp_path)
    t = r.key("t")[0]
    dev_key, dev_pub = r.key("dev")
    _ok(r.assay("add-target", _file(r, "hello.txt", b"hello tuf\n"), "--role", "targets", "--key", t))
    _ok(r.assay("delegate", "--role", "dev", "--paths", "app/*", "--key", dev_pub, "--signer", t))
    _ok(r.assay("add-target", _file(r, "tool", b"tool v1"), "--path", "app/tool", "--role", "dev", "--key", dev_key))
    return r


@pytest.fixture
def mirror(tuf_server: ServerProcess) -> Iterator[Mirror]:
    m = Mirror(tuf_server.url)
    yield m
    m.close()


@pytest.fixture
def client(repo: Repo, mirror: Mirror, tmp_path: Path) -> Client:
    """A client initialised with root v1 (out of band) that has refreshed once through the honest mirror."""
    c = Client(f"{mirror.url}/tuf/{repo.project}/", tmp_path / "client")
    _ok(c.init(repo.root))
    _ok(c.run("refresh"))
    return c


def _ok(r) -> None:  # type: ignore[no-untyped-def]
    assert r.code == 0, (r.code, r.out, r.err)


def _file(repo: Repo, name: str, data: bytes) -> str:
    path = repo.work / name.replace("/", "_")
    path.write_bytes(data)
    return str(path)


def test_honest_mirror_downloads_and_caches(client: Client, mirror: Mirror, repo: Repo) -> None:
    r = client.run("download", "hello.txt", "app/tool", "--json")
    _ok(r)
    got = json.loads(r.out)
    assert [Path(g["path"]).read_bytes() for g in got] == [b"hello tuf\n", b"tool v1"]
    assert [g["cached"] for g in got] == [False, False]
    fetched = len(mirror.requests)
    r = client.run("download", "hello.txt", "--json")
    _ok(r)
    assert json.loads(r.out)[0]["cached"] is True
    assert not any("/targets/" in p for p in mirror.requests[fetched:])  # a verified copy is not fetched again
    refused(client.run("download", "nothing/here"), "tuf-target-unknown")


def test_rollback_of_timestamp(client: Client, mirror: Mirror, repo: Repo) -> None:
    forger = Forger(repo.srv, repo.project)
    old = forger.sign(forger.current("timestamp"))
    _ok(repo.assay("add-target", _file(repo, "b.txt", b"b"), "--role", "targets", "--key", repo.key("t")[0]))
    _ok(client.run("refresh"))
    mirror.overrides[f"{forger.path}/timestamp.json"] = old
    refused(client.run("refresh"), "tuf-rollback")


def test_rollback_of_snapshot(client: Client, mirror: Mirror, repo: Repo) -> None:
    forger = Forger(repo.srv, repo.project)
    ts = forger.current("timestamp")
    ts.signed.version += 5
    ts.signed.snapshot_meta.version -= 1  # a newer timestamp naming an older snapshot
    mirror.overrides[f"{forger.path}/timestamp.json"] = forger.sign(ts)
    refused(client.run("refresh"), "tuf-rollback")


def test_rollback_of_targets(client: Client, mirror: Mirror, repo: Repo) -> None:
    forger = Forger(repo.srv, repo.project)
    targets_version = forger.current("snapshot").signed.meta["targets.json"].version
    forger.publish(mirror, {"targets": targets_version - 1})
    refused(client.run("refresh"), "tuf-rollback")


def test_freeze_expired_timestamp(client: Client, mirror: Mirror, repo: Repo) -> None:
    require_tool("faketime")
    forger = Forger(repo.srv, repo.project)
    # the mirror keeps serving the last timestamp; two days on, it has expired (timestamp expiry: 1 day)
    mirror.overrides[f"{forger.path}/timestamp.json"] = forger.sign(forger.current("timestamp"))
    refused(client.run("refresh", faketime="+2d"), "tuf-metadata-expired")
    # and a forged timestamp that is already expired is refused as well
    forger.publish(mirror, {}, expires=datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))
    refused(client.run("refresh"), "tuf-metadata-expired")


def test_mix_and_match(client: Client, mirror: Mirror, repo: Repo) -> None:
    forger = Forger(repo.srv, repo.project)
    current = forger.current("targets")
    claimed = current.signed.version + 1
    forger.publish(mirror, {"targets": claimed})  # a snapshot naming targets v+1 ...
    mirror.overrides[f"{forger.path}/{claimed}.targets.json"] = forger.sign(current, _targets_signer(repo))
    refused(client.run("refresh"), "tuf-mix-and-match")  # ... served with targets v


def _targets_signer(repo: Repo):  # type: ignore[no-untyped-def]
    from assay.tuf import keys

    return keys.tuf_signer(repo.key("t")[0])


def test_target_outside_the_delegations_paths(client: Client, mirror: Mirror, repo: Repo) -> None:
    from tuf.api.metadata import TargetFile

    from assay.tuf import keys

    forger = Forger(repo.srv, repo.project)
    dev = forger.current("dev")
    dev.signed.version += 1
    dev.signed.targets["lib/evil"] = TargetFile.from_data("lib/evil", b"evil", ["sha256"])
    mirror.overrides[f"{forger.path}/{dev.signed.version}.dev.json"] = forger.sign(
        dev, keys.tuf_signer(repo.key("dev")[0])
    )
    forger.publish(mirror, {"dev": dev.signed.version})
    digest = hashlib.sha256(b"evil").hexdigest()
    mirror.overrides[f"{forger.path}/targets/lib/{digest}.evil"] = b"evil"
    r = client.run("download", "app/tool", "lib/evil")
    refused(r, "tuf-target-outside-delegation")
    assert "'dev'" in r.err and not any(p.endswith(".evil") for p in mirror.requests)


def test_threshold_not_met(client: Client, mirror: Mirror, repo: Repo) -> None:
    from assay.tuf import keys

    t = repo.key("t")[0]
    (a, a_pub), (b, b_pub) = repo.key("rel-a"), repo.key("rel-b")
    _ok(repo.assay("delegate", "--role", "rel", "--paths", "rel/*", "--key", a_pub, "--key", b_pub,
                   "--threshold", "2", "--signer", t))  # fmt: skip
    _ok(repo.assay("add-target", _file(repo, "r1", b"rel 1"), "--path", "rel/r1", "--role", "rel",
                   "--key", a, "--key", b))  # fmt: skip
    _ok(client.run("download", "rel/r1"))
    forger = Forger(repo.srv, repo.project)
    rel = forger.current("rel")
    rel.signed.version += 1
    mirror.overrides[f"{forger.path}/{rel.signed.version}.rel.json"] = forger.sign(rel, keys.tuf_signer(a))  # 1 of 2
    forger.publish(mirror, {"rel": rel.signed.version})
    refused(client.run("download", "rel/r1"), "tuf-threshold-not-met")


def test_revoked_key(client: Client, mirror: Mirror, repo: Repo) -> None:
    t = repo.key("t")[0]
    (d1, d1_pub), (_d2, d2_pub) = repo.key("d1"), repo.key("d2")
    _ok(repo.assay("delegate", "--role", "ops", "--paths", "ops/*", "--key", d1_pub, "--key", d2_pub, "--signer", t))
    _ok(repo.assay("add-target", _file(repo, "o", b"ops"), "--path", "ops/o", "--role", "ops", "--key", d1))
    _ok(client.run("download", "ops/o"))
    # d1 is revoked: targets now delegates ops to d2 only; the ops version the mirror (and server) serve is d1's
    _ok(repo.assay("delegate", "--role", "ops", "--paths", "ops/*", "--key", d2_pub, "--signer", t))
    refused(client.run("download", "ops/o"), "tuf-untrusted-key")


def test_broken_root_rotation_chain(client: Client, mirror: Mirror, repo: Repo) -> None:
    from securesystemslib.signer import CryptoSigner
    from tuf.api.metadata import Metadata, Root

    forger = Forger(repo.srv, repo.project)
    root = Metadata[Root].from_bytes(repo.root)
    evil = CryptoSigner.generate_ecdsa()
    for keyid in list(root.signed.roles["root"].keyids):
        root.signed.revoke_key(keyid, "root")
    root.signed.add_key(evil.public_key, "root")
    root.signed.roles["root"].threshold = 1
    root.signed.version = 2  # root v2 signed only by its own new key, not by v1's threshold
    mirror.overrides[f"{forger.path}/2.root.json"] = forger.sign(root, evil)
    refused(client.run("refresh"), "tuf-root-chain-broken")
    assert json.loads((client.metadata_dir / "root.json").read_bytes())["signed"]["version"] == 1


def test_endless_data(client: Client, mirror: Mirror, repo: Repo) -> None:
    mirror.overrides[f"/tuf/{repo.project}/timestamp.json"] = ENDLESS
    refused(client.run("refresh"), "tuf-endless-data")


def test_different_target_of_the_same_name(client: Client, mirror: Mirror, repo: Repo) -> None:
    digest = hashlib.sha256(b"hello tuf\n").hexdigest()
    mirror.overrides[f"/tuf/{repo.project}/targets/{digest}.hello.txt"] = b"HELLO TUF\n"  # same length
    r = client.run("download", "hello.txt")
    refused(r, "tuf-target-mismatch")
    assert not (client.metadata_dir / "targets" / "hello.txt").exists()


def test_offline_uses_the_cache_until_it_expires(client: Client, mirror: Mirror, repo: Repo) -> None:
    _ok(client.run("download", "hello.txt"))
    seen = len(mirror.requests)
    _ok(client.run("refresh", "--offline"))
    r = client.run("download", "hello.txt", "--offline")
    _ok(r)
    assert "(cached)" in r.out and len(mirror.requests) == seen  # nothing fetched
    refused(client.run("download", "app/tool", "--offline"), "tuf-offline-missing")  # dev.json never cached
    require_tool("faketime")
    refused(client.run("refresh", "--offline", faketime="+2d"), "tuf-metadata-expired")
