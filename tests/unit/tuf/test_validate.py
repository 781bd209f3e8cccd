"""The pure upload checks (no server, no database): each refusal and its reason code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import DelegatedRole, Delegations, Metadata, Root, SuccinctRoles, TargetFile, Targets

from assay.errors import InputError
from assay.tuf import offline, validate
from assay.tuf.repository import to_bytes

NOW = datetime.now(UTC)


def _reason(fn: Any, *args: Any) -> str:
    with pytest.raises(InputError) as exc:
        fn(*args)
    return exc.value.reason


@pytest.fixture(scope="module")
def keys() -> dict[str, CryptoSigner]:
    return {name: CryptoSigner.generate_ecdsa() for name in ("r1", "r2", "t", "online", "dev", "other")}


def _root(keys: dict[str, CryptoSigner], version: int = 1, root_keys: tuple[str, ...] = ("r1", "r2"),
          threshold: int = 2) -> Metadata[Root]:  # fmt: skip
    md = offline.build_root([keys[k].public_key for k in root_keys], threshold, [keys["t"].public_key], 1,
                            keys["online"].public_key, 30)  # fmt: skip
    md.signed.version = version
    return md


def _signed(md: Metadata[Any], *signers: CryptoSigner) -> bytes:
    return to_bytes(offline.sign(md, list(signers)))


def _online(keys: dict[str, CryptoSigner]) -> set[str]:
    return {keys["online"].public_key.keyid}


def test_root_v1_needs_its_threshold(keys: dict[str, CryptoSigner]) -> None:
    one = _signed(_root(keys), keys["r1"])
    assert validate.check_root(one, None, _online(keys), NOW).missing == 1
    both = _signed(_root(keys), keys["r1"], keys["r2"])
    assert validate.check_root(both, None, _online(keys), NOW).missing == 0
    assert _reason(validate.check_root, _signed(_root(keys), keys["other"]), None, _online(keys), NOW) == (
        "tuf-signature-unknown-key"
    )
    assert _reason(validate.check_root, both, None, {"not-the-online-key"}, NOW) == "tuf-online-key-missing"
    assert _reason(validate.check_root, _signed(_root(keys, 2), keys["r1"]), None, _online(keys), NOW) == (
        "tuf-version-not-increasing"
    )


def test_root_rotation_needs_old_and_new_thresholds(keys: dict[str, CryptoSigner]) -> None:
    v1 = _root(keys).signed
    v2 = _root(keys, 2, ("other",), 1)
    assert validate.check_root(_signed(v2, keys["r1"], keys["r2"]), v1, _online(keys), NOW).missing == 1
    assert validate.check_root(_signed(v2, keys["other"]), v1, _online(keys), NOW).missing == 2
    assert validate.check_root(_signed(v2, keys["r1"], keys["r2"], keys["other"]), v1, _online(keys), NOW).missing == 0
    v3 = _root(keys, 3, ("other",), 1)
    assert _reason(validate.check_root, _signed(v3, keys["other"]), v1, _online(keys), NOW) == (
        "tuf-version-not-increasing"
    )
    tampered = Metadata.from_bytes(_signed(v2, keys["r1"], keys["r2"], keys["other"]))
    tampered.signed.expires += timedelta(days=1)
    assert _reason(validate.check_root, to_bytes(tampered), v1, _online(keys), NOW) == "tuf-signature-invalid"


def _targets(version: int = 1, days: float = 30, **fields: Any) -> Metadata[Targets]:
    return Metadata(Targets(version=version, expires=(NOW + timedelta(days=days)).replace(microsecond=0), **fields))


def _delegating(keys: dict[str, CryptoSigner], **role: Any) -> Targets:
    dev = keys["dev"].public_key
    d = DelegatedRole("dev", [dev.keyid], 1, False, **(role or {"paths": ["app/*"]}))
    return _targets(delegations=Delegations({dev.keyid: dev}, roles={"dev": d})).signed


def test_targets_checks(keys: dict[str, CryptoSigner]) -> None:
    root = _root(keys).signed
    chain: list[Any] = [(root, "targets")]
    ok = _signed(_targets(2), keys["t"])
    assert validate.check_targets(ok, "targets", 1, chain, set(), NOW).missing == 0
    assert _reason(validate.check_targets, ok, "targets", 2, chain, set(), NOW) == "tuf-version-not-increasing"
    assert _reason(validate.check_targets, _signed(_targets(2, -1), keys["t"]), "targets", 1, chain, set(), NOW) == (
        "tuf-expired"
    )
    assert _reason(validate.check_targets, _signed(_targets(2), keys["dev"]), "targets", 1, chain, set(), NOW) == (
        "tuf-signature-unknown-key"
    )
    assert _reason(validate.check_targets, b"[]", "targets", 1, chain, set(), NOW) == "tuf-metadata-malformed"
    big = b" " * (validate.MAX_METADATA_BYTES + 1)
    assert _reason(validate.check_targets, big, "targets", 1, chain, set(), NOW) == "tuf-metadata-too-large"


def test_delegated_targets_stay_within_their_paths(keys: dict[str, CryptoSigner]) -> None:
    root = _root(keys).signed
    chain: list[Any] = [(root, "targets"), (_delegating(keys), "dev")]

    def upload(path: str, signer: str = "dev") -> bytes:
        return _signed(_targets(targets={path: TargetFile.from_data(path, b"x", ["sha256"])}), keys[signer])

    assert validate.check_targets(upload("app/tool"), "dev", None, chain, set(), NOW).missing == 0
    assert _reason(validate.check_targets, upload("lib/tool"), "dev", None, chain, set(), NOW) == (
        "tuf-target-outside-delegation"
    )
    assert _reason(validate.check_targets, upload("app/tool", "t"), "dev", None, chain, set(), NOW) == (
        "tuf-signature-unknown-key"
    )
    by_prefix: list[Any] = [(root, "targets"), (_delegating(keys, path_hash_prefixes=["00"]), "dev")]
    assert _reason(validate.check_targets, upload("app/tool"), "dev", None, by_prefix, set(), NOW) == (
        "tuf-target-outside-delegation"
    )
    unknown: list[Any] = [(root, "targets"), (_delegating(keys), "nobody")]
    assert _reason(validate.check_targets, upload("app/tool"), "nobody", None, unknown, set(), NOW) == (
        "tuf-role-unknown"
    )


def test_hash_bins(keys: dict[str, CryptoSigner]) -> None:
    dev = keys["dev"].public_key
    succinct = SuccinctRoles([dev.keyid], 1, 8, "bin")
    bins = _targets(delegations=Delegations({dev.keyid: dev}, succinct_roles=succinct)).signed
    path = "pkgs/x-1.0.tgz"
    right = succinct.get_role_for_target(path)
    wrong = next(n for n in succinct.get_roles() if n != right)
    body = _signed(_targets(targets={path: TargetFile.from_data(path, b"x", ["sha256"])}), keys["dev"])
    chain: list[Any] = [(_root(keys).signed, "targets"), (bins, right)]
    assert validate.check_targets(body, right, None, chain, set(), NOW).missing == 0
    assert _reason(validate.check_targets, body, wrong, None, [chain[0], (bins, wrong)], set(), NOW) == (
        "tuf-target-outside-delegation"
    )
    assert len(validate.delegated_names(bins)) == 256


@pytest.mark.parametrize("path", ["../x", "/abs", "a\\b", "a/../b", "a//b", "./a", "a/", "", "c:x", "a\x00b"])
def test_paths_that_escape(path: str) -> None:
    assert _reason(validate.check_path, path) == "tuf-target-path-escapes"


@pytest.mark.parametrize("path", ["a", "dir/file.tar.gz", "a-b_c.d/e"])
def test_plain_paths(path: str) -> None:
    assert validate.check_path(path) == path


@pytest.mark.parametrize("name", ["root", "targets", "snapshot", "timestamp", "a/b", "..", "", "-x", "x" * 200])
def test_role_names_refused(name: str) -> None:
    assert _reason(validate.check_role_name, name) == "tuf-role-name-invalid"


def test_delegating_a_taken_name_is_refused(keys: dict[str, CryptoSigner]) -> None:
    body = _signed(Metadata(_delegating(keys)), keys["t"])
    body_md = Metadata.from_bytes(body)
    body_md.signed.version = 2
    data = _signed(body_md, keys["t"])
    chain: list[Any] = [(_root(keys).signed, "targets")]
    assert _reason(validate.check_targets, data, "targets", 1, chain, {"dev"}, NOW) == "tuf-delegation-invalid"


@pytest.mark.parametrize("data", [b"[" * 5000 + b"]" * 5000, b'{"signed": "\\ud800", "signatures": []}', b"\xff\xfe",
                                  b'{"signed": NaN}'])  # fmt: skip
def test_hostile_json_is_malformed_metadata(data: bytes) -> None:
    assert _reason(validate.parse, data, Targets) == "tuf-metadata-malformed"
