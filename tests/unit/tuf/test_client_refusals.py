"""``assay tuf client`` without a network: bad input exits 2 with its reason, ngclient's errors map to one reason
each, and the offline mode verifies a cached repository (generated here with python-tuf's Metadata API)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api import exceptions
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp

from assay.errors import EXIT_ENVIRONMENT, EXIT_INPUT, EXIT_UNTRUSTED, AssayError
from assay.tuf import client
from tests.conftest import run_assay


def _repo(where: Path, expires: timedelta = timedelta(days=1)) -> dict[str, bytes]:
    """A one-key repository's top-level metadata (plain names, as a client caches them) and its target."""
    signer = CryptoSigner.generate_ecdsa()
    when = datetime.now(UTC).replace(microsecond=0) + expires
    root = Root(expires=when)
    for role in ("root", "timestamp", "snapshot", "targets"):
        root.add_key(signer.public_key, role)
    files = {"root": Metadata(root)}
    files["targets"] = Metadata(
        Targets(expires=when, targets={"a.txt": TargetFile.from_data("a.txt", b"a", ["sha256"])})
    )
    files["snapshot"] = Metadata(Snapshot(expires=when, meta={"targets.json": MetaFile(1)}))
    files["timestamp"] = Metadata(Timestamp(expires=when, snapshot_meta=MetaFile(1)))
    out = {}
    for name, md in files.items():
        md.sign(signer)
        out[name] = md.to_bytes()
    return out


def test_offline_refresh_verifies_the_cache_and_refuses_when_expired(tmp_path: Path) -> None:
    for name, expires, ok in (("fresh", timedelta(days=1), True), ("stale", timedelta(seconds=-5), False)):
        md = _repo(tmp_path, expires)
        dirs = client.ClientDirs(tmp_path / name / "metadata")
        client.init(md["root"], dirs)
        for role in ("timestamp", "snapshot", "targets"):
            (dirs.metadata_dir / f"{role}.json").write_bytes(md[role])
        if ok:
            roles = {r.name: r.version for r in client.refresh(dirs, offline=True)}
            assert roles == {"root": 1, "timestamp": 1, "snapshot": 1, "targets": 1}
            with pytest.raises(AssayError) as missing:
                client.download(dirs, ["a.txt"], offline=True)
            assert missing.value.reason == "tuf-offline-missing"
            (dirs.targets / "a.txt").write_bytes(b"a")
            (got,) = client.download(dirs, ["a.txt"], offline=True)
            assert got.cached and got.path.read_bytes() == b"a"
            (dirs.targets / "a.txt").write_bytes(b"b")  # a cached copy that no longer matches is not used
            with pytest.raises(AssayError) as changed:
                client.download(dirs, ["a.txt"], offline=True)
            assert changed.value.reason == "tuf-offline-missing"
        else:
            with pytest.raises(AssayError) as expired:
                client.refresh(dirs, offline=True)
            assert (expired.value.reason, expired.value.exit_code) == ("tuf-metadata-expired", EXIT_UNTRUSTED)


def test_offline_with_nothing_cached(tmp_path: Path) -> None:
    dirs = client.ClientDirs(tmp_path / "m")
    client.init(_repo(tmp_path)["root"], dirs)
    with pytest.raises(AssayError) as exc:
        client.refresh(dirs, offline=True)
    assert exc.value.reason == "tuf-offline-missing"


@pytest.mark.parametrize(
    ("exc", "reason", "code"),
    [
        (exceptions.BadVersionNumberError("New timestamp version 1 must be >= 2"), "tuf-rollback", EXIT_UNTRUSTED),
        (exceptions.BadVersionNumberError("Expected targets.json version 1, got 2."), "tuf-rollback", EXIT_UNTRUSTED),
        (exceptions.BadVersionNumberError("Expected snapshot version 3, got 2"), "tuf-mix-and-match", EXIT_UNTRUSTED),
        (exceptions.BadVersionNumberError("Expected dev v3, got v2."), "tuf-mix-and-match", EXIT_UNTRUSTED),
        (exceptions.BadVersionNumberError("Expected root version 2 instead got 3"), "tuf-root-chain-broken", 1),
        (exceptions.ExpiredMetadataError("timestamp.json is expired"), "tuf-metadata-expired", EXIT_UNTRUSTED),
        (exceptions.UnsignedMetadataError("dev was signed by 1/2 keys"), "tuf-threshold-not-met", EXIT_UNTRUSTED),
        (exceptions.LengthOrHashMismatchError("hash mismatch"), "tuf-hash-mismatch", EXIT_UNTRUSTED),
        (exceptions.DownloadLengthMismatchError("too long"), "tuf-endless-data", EXIT_UNTRUSTED),
        (exceptions.SlowRetrievalError(), "tuf-slow-retrieval", EXIT_ENVIRONMENT),
        (exceptions.DownloadHTTPError("404", 404), "tuf-download-failed", EXIT_ENVIRONMENT),
        (exceptions.DownloadError("connection refused"), "tuf-unreachable", EXIT_ENVIRONMENT),
        (exceptions.RepositoryError("Failed to load snapshot"), "tuf-metadata-malformed", EXIT_UNTRUSTED),
    ],
)
def test_each_ngclient_error_has_one_reason(exc: Exception, reason: str, code: int) -> None:
    mapped = client.refusal(exc)
    assert mapped is not None and (mapped.reason, mapped.exit_code) == (reason, code)


def test_a_root_update_signed_wrongly_is_a_broken_chain() -> None:
    seen = client._Seen(url="http://x/2.root.json")
    mapped = client.refusal(exceptions.UnsignedMetadataError("root was signed by 0/1 keys"), seen)
    assert mapped is not None and mapped.reason == "tuf-root-chain-broken"
    assert client.refusal(ValueError("not ours")) is None


def test_cli_bad_input_exits_2(tmp_path: Path) -> None:
    (tmp_path / "notroot.json").write_text(json.dumps({"signed": {"_type": "targets"}, "signatures": []}))
    r = run_assay("tuf", "client", "init", str(tmp_path / "notroot.json"), "--metadata-dir", str(tmp_path / "m"))
    assert r.code == EXIT_INPUT and r.err.startswith("error[tuf-root-invalid]:"), r.err
    unsigned = json.loads(_repo(tmp_path)["root"])
    unsigned["signatures"] = []
    (tmp_path / "unsigned.json").write_text(json.dumps(unsigned))
    r = run_assay("tuf", "client", "init", str(tmp_path / "unsigned.json"), "--metadata-dir", str(tmp_path / "m"))
    assert r.code == EXIT_INPUT and r.err.startswith("error[tuf-root-invalid]:"), r.err
    assert not (tmp_path / "m" / "root.json").exists()
    r = run_assay("tuf", "client", "refresh", "--metadata-dir", str(tmp_path / "empty"), "--metadata-url", "http://x/")
    assert r.code == EXIT_INPUT and r.err.startswith("error[tuf-client-uninitialised]:"), r.err
    r = run_assay("tuf", "client", "refresh")
    assert r.code == EXIT_INPUT and r.err.startswith("error[tuf-client-unconfigured]:"), r.err
    r = run_assay("tuf", "client", "init", str(tmp_path / "missing.json"), "--metadata-dir", str(tmp_path / "m"))
    assert r.code == EXIT_INPUT and r.err.startswith("error[file-unreadable]:"), r.err


def test_unreachable_repository_exits_3(tmp_path: Path) -> None:
    root = tmp_path / "root.json"
    root.write_bytes(_repo(tmp_path)["root"])
    m = str(tmp_path / "m")
    assert (
        run_assay("tuf", "client", "init", str(root), "--metadata-dir", m, "--metadata-url", "http://127.0.0.1:9/").code
        == 0
    )
    r = run_assay("tuf", "client", "refresh", "--metadata-dir", m)  # the URL is remembered from init
    assert r.code == EXIT_ENVIRONMENT and r.err.startswith("error[tuf-unreachable]:"), r.err
