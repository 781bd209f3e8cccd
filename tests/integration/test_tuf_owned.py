"""Server-owned targets (``sigstore-trust``) on SQLite and PostgreSQL: republished only when their bytes change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Targets

from assay.errors import InputError
from assay.tuf import offline, owned
from assay.tuf.repository import OnlineKeys, Repository, to_bytes
from tests.integration.conftest import migrated_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    yield from migrated_engine(request.param, tmp_path)


def _init(repo: Repository, project: str, delegations: Any) -> None:
    rs, ts = CryptoSigner.generate_ecdsa(), CryptoSigner.generate_ecdsa()
    online = repo.online.signers[0].public_key
    root = offline.sign(offline.build_root([rs.public_key], 1, [ts.public_key], 1, online, 30), [rs])
    targets = offline.sign(Metadata(Targets(expires=offline.expiry(30), delegations=delegations)), [ts])
    repo.init(project, to_bytes(root), to_bytes(targets))


def test_trust_targets_are_republished_when_their_bytes_change(engine: Any) -> None:
    repo = Repository(engine, OnlineKeys([CryptoSigner.generate_ecdsa()]))
    _init(repo, "sigstore", owned.delegation(repo.online.signers[0].public_key))
    files = {"trusted_root.json": b'{"v": 1}\n', "signing_config.v0.2.json": b'{"c": 1}\n'}
    first = owned.publish(repo, "sigstore", files)
    assert first is not None and first.version == 1 and first.missing == 0
    assert owned.publish(repo, "sigstore", files) is None  # unchanged: no new version, no new snapshot
    snapshot = json.loads(repo.metadata("sigstore", "timestamp.json"))["signed"]["meta"]["snapshot.json"]["version"]
    second = owned.publish(repo, "sigstore", {**files, "trusted_root.json": b'{"v": 2}\n'})
    assert second is not None and second.version == 2 and second.snapshot == snapshot + 1
    served = Metadata.from_bytes(repo.metadata("sigstore", "2.sigstore-trust.json")).signed
    assert set(served.targets) == set(owned.PATHS)
    # the server-owned role cannot name anything else (its delegation's paths are exactly the two files)
    with pytest.raises(InputError) as exc:
        owned.publish(repo, "sigstore", {"other.json": b"{}"})
    assert exc.value.reason == "tuf-target-outside-delegation"


def test_a_project_that_does_not_delegate_sigstore_trust(engine: Any) -> None:
    repo = Repository(engine, OnlineKeys([CryptoSigner.generate_ecdsa()]))
    _init(repo, "plain", None)
    with pytest.raises(InputError) as exc:
        owned.publish(repo, "plain", {"trusted_root.json": b"{}"})
    assert exc.value.reason == "tuf-role-unknown"
    with pytest.raises(InputError) as exc:
        owned.publish(repo, "missing", {"trusted_root.json": b"{}"})
    assert exc.value.reason == "tuf-not-initialised"
