"""Offline tooling: build, edit and sign role versions on an administrator's or developer's machine, then upload.

The private keys (files, HSM or KMS signer URIs) never leave this machine; the server receives signed metadata
and checks it (:mod:`assay.tuf.validate`) before it publishes anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from securesystemslib.signer import Key, Signer, SSlibKey  # type: ignore[attr-defined]
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    Role,
    Root,
    Snapshot,
    SuccinctRoles,
    TargetFile,
    Targets,
    Timestamp,
)

from assay.clients.tuf import TufClient
from assay.errors import InputError
from assay.tuf import keys, validate
from assay.tuf.repository import to_bytes

DEFAULT_EXPIRY_DAYS = 365


def expiry(days: float) -> datetime:
    """``days`` from now, to the second (as TUF metadata carries it)."""
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


def signers_for(specs: list[str]) -> list[Signer]:
    """Signers for key files or signer URIs (``key-unreadable``/``key-malformed`` on a bad one)."""
    if not specs:
        raise InputError("tuf-no-signer", "no signing key given", hint="pass --signer KEY (a key file or signer URI)")
    return [keys.tuf_signer(s) for s in specs]


def sign(md: Metadata[Any], signers: list[Signer]) -> Metadata[Any]:
    """``md`` signed afresh by every signer."""
    md.signatures.clear()
    for s in signers:
        md.sign(s, append=True)
    return md


def online_key(client: TufClient, spec: str | None) -> Key:
    """The snapshot/timestamp key: ``spec`` (a public key file or signer URI), else the server's preferred key."""
    if spec:
        return keys.public_key(spec)
    found = client.online_keys()
    if not found:
        raise InputError("tuf-online-key-missing", "the server offers no online key")
    doc = dict(found[0])
    keyid = doc.pop("keyid")
    return SSlibKey.from_dict(keyid, doc)


def build_root(
    root_keys: list[Key], root_threshold: int, targets_keys: list[Key], targets_threshold: int, online: Key,
    days: float = DEFAULT_EXPIRY_DAYS,
) -> Metadata[Root]:  # fmt: skip
    """Root v1: the offline root and targets keys, the server's online key for snapshot and timestamp."""
    _threshold(root_threshold, len(root_keys), "root")
    _threshold(targets_threshold, len(targets_keys), "targets")
    root = Root(expires=expiry(days), consistent_snapshot=True)
    root.roles["root"].threshold = root_threshold
    root.roles["targets"].threshold = targets_threshold
    for k in root_keys:
        root.add_key(k, "root")
    for k in targets_keys:
        root.add_key(k, "targets")
    for role in ("snapshot", "timestamp"):
        root.add_key(online, role)
    return Metadata(root)


def _threshold(threshold: int, count: int, what: str) -> None:
    if not 1 <= threshold <= count:
        raise InputError("tuf-bad-threshold", f"{what} threshold {threshold} with {count} key(s)")


@dataclass
class InitResult:
    root: bytes
    answer: dict[str, Any]


def init(
    client: TufClient, root_signers: list[Signer], root_threshold: int, targets_signers: list[Signer],
    targets_threshold: int = 1, online_spec: str | None = None, days: float = DEFAULT_EXPIRY_DAYS,
    delegations: Delegations | None = None,
) -> InitResult:  # fmt: skip
    """Build and sign root v1 and targets v1, upload them; returns the root (the clients' bootstrap root)."""
    online = online_key(client, online_spec)
    root = build_root(
        [s.public_key for s in root_signers], root_threshold, [s.public_key for s in targets_signers],
        targets_threshold, online, days,
    )  # fmt: skip
    sign(root, root_signers)
    targets = sign(Metadata(Targets(expires=expiry(days), delegations=delegations)), targets_signers)
    root_bytes = to_bytes(root)
    return InitResult(root_bytes, client.init(root_bytes, to_bytes(targets)))


def current(client: TufClient, role: str) -> Metadata[Any] | None:
    """The published version of ``role`` as the server serves it (None when the role has none yet)."""
    if role == "root":
        data = client.metadata("root.json")
        return None if data is None else Metadata.from_bytes(data)
    ts = client.metadata("timestamp.json")
    if ts is None:
        raise InputError("tuf-not-initialised", f"project {client.project!r} has no TUF repository")
    snap_version = Metadata[Timestamp].from_bytes(ts).signed.snapshot_meta.version
    snap = client.metadata(f"{snap_version}.snapshot.json")
    meta = Metadata[Snapshot].from_bytes(snap or b"").signed.meta.get(f"{role}.json")
    if meta is None:
        return None
    data = client.metadata(f"{meta.version}.{role}.json")
    return None if data is None else Metadata.from_bytes(data)


def _next(md: Metadata[Any] | None, days: float) -> Metadata[Targets]:
    if md is None:
        return Metadata(Targets(version=1, expires=expiry(days)))
    md.signed.version += 1
    md.signed.expires = expiry(days)
    return md


def _upload(client: TufClient, role: str, md: Metadata[Any], partial: bool) -> dict[str, Any]:
    if role == "root":
        return client.upload_root(to_bytes(md), partial)
    return client.upload_role(role, to_bytes(md), partial)


def delegate(
    client: TufClient, signers: list[Signer], role: str, delegate_keys: list[Key], threshold: int = 1, *,
    paths: list[str] | None = None, hash_prefixes: list[str] | None = None, terminating: bool = False,
    bins: int | None = None, delegator: str = "targets", partial: bool = False, days: float = DEFAULT_EXPIRY_DAYS,
) -> dict[str, Any]:  # fmt: skip
    """A new delegator version delegating ``role`` (or ``bins`` hash bins named ``role-XX``) to ``delegate_keys``.

    The role's keys are replaced by ``delegate_keys``: a key left out is removed, and its signatures stop counting
    as soon as this version is published."""
    _threshold(threshold, len(delegate_keys), role)
    if bins is None:
        validate.check_role_name(role)
        if bool(paths) == bool(hash_prefixes):
            raise InputError("tuf-delegation-invalid", "give either --paths or --hash-prefixes")
        for p in paths or []:
            validate.check_path(p.replace("*", "x").replace("?", "x").rstrip("/") or "x")
    md = _next(current(client, delegator), days)
    targets: Targets = md.signed
    old = targets.delegations
    if bins is not None:
        bits = int(math.log2(bins)) if bins > 1 else 0
        if bins < 2 or 2**bits != bins:
            raise InputError("tuf-delegation-invalid", f"--succinct-bins {bins}: use a power of two (2 … 16384)")
        succinct = SuccinctRoles([k.keyid for k in delegate_keys], threshold, bits, role)
        targets.delegations = Delegations({k.keyid: k for k in delegate_keys}, roles=None, succinct_roles=succinct)
    else:
        roles = dict(old.roles or {}) if old is not None and old.roles is not None else {}
        roles[role] = DelegatedRole(role, [k.keyid for k in delegate_keys], threshold, terminating,
                                    paths=paths or None, path_hash_prefixes=hash_prefixes or None)  # fmt: skip
        key_map = dict(old.keys) if old is not None and old.roles is not None else {}
        key_map.update({k.keyid: k for k in delegate_keys})
        used = {kid for r in roles.values() for kid in r.keyids}
        targets.delegations = Delegations({k: v for k, v in key_map.items() if k in used}, roles=roles)
    sign(md, signers)
    return _upload(client, delegator, md, partial)


def add_target(
    client: TufClient, file: Path, role: str, signers: list[Signer], path: str | None = None,
    partial: bool = False, days: float = DEFAULT_EXPIRY_DAYS,
) -> dict[str, Any]:  # fmt: skip
    """Upload ``file`` and a new version of ``role`` naming it (signed by ``signers``)."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError("file-unreadable", f"{file}: {exc.strerror}") from None
    name = validate.check_path(path or file.name)
    md = _next(current(client, role), days)
    md.signed.targets[name] = TargetFile.from_data(name, data, ["sha256"])
    client.put_target(data)
    sign(md, signers)
    answer = _upload(client, role, md, partial)
    return {**answer, "path": name, "sha256": md.signed.targets[name].hashes["sha256"]}


def sign_role(client: TufClient, role: str, signers: list[Signer]) -> dict[str, Any]:
    """Add signatures to ``role``'s pending version; the server publishes it once the threshold is met."""
    data = client.pending(role)
    if data is None:
        raise InputError("tuf-nothing-pending", f"{role} has no version waiting for signatures")
    md = Metadata.from_bytes(data)
    for s in signers:
        md.sign(s, append=True)
    return _upload(client, role, md, True)


def rotate_root(
    client: TufClient, signers: list[Signer], *, root_keys: list[Key] | None = None, root_threshold: int | None = None,
    targets_keys: list[Key] | None = None, online: Key | None = None, partial: bool = False,
    days: float = DEFAULT_EXPIRY_DAYS,
) -> tuple[bytes, dict[str, Any]]:  # fmt: skip
    """Root N+1 with the given key changes, signed by ``signers`` (old and new root keys as needed)."""
    md = current(client, "root")
    if md is None:
        raise InputError("tuf-not-initialised", f"project {client.project!r} has no TUF repository")
    root: Root = md.signed
    root.version += 1
    root.expires = expiry(days)
    for role, new in (("root", root_keys), ("targets", targets_keys), ("snapshot", [online] if online else None),
                      ("timestamp", [online] if online else None)):  # fmt: skip
        if new is None:
            continue
        for keyid in list(root.roles[role].keyids):
            root.revoke_key(keyid, role)
        for k in new:
            root.add_key(k, role)
        if root.roles[role].threshold > len(new):
            root.roles[role] = Role(root.roles[role].keyids, len(new))
    if root_threshold is not None:
        _threshold(root_threshold, len(root.roles["root"].keyids), "root")
        root.roles["root"].threshold = root_threshold
    sign(md, signers)
    data = to_bytes(md)
    return data, _upload(client, "root", md, partial)
