"""The pure upload checks: is a new role version acceptable, given the repository's current trusted metadata?

No I/O: callers hand in the uploaded bytes and the current metadata (the delegation chain from root down to
the role's delegator). Each refusal is an :class:`~assay.errors.InputError` with its own reason code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tuf.api.exceptions import RepositoryError
from tuf.api.metadata import Metadata, Root, Signed, Snapshot, Targets, Timestamp

from assay.errors import InputError
from assay.formats import safejson

MAX_METADATA_BYTES = 2 * 1024 * 1024
MAX_TARGET_BYTES = 4 * 1024 * 1024 - 64 * 1024
TOP_LEVEL = ("root", "targets", "snapshot", "timestamp")
ROLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_BINS_BITS = 14
TYPES: dict[str, type[Signed]] = {"root": Root, "targets": Targets, "snapshot": Snapshot, "timestamp": Timestamp}


def reject(reason: str, message: str, hint: str | None = None) -> InputError:
    """An upload refusal (HTTP 400 with ``reason``)."""
    return InputError(reason, message, hint=hint)


def parse(data: bytes, kind: type[Signed]) -> Metadata[Any]:
    """Metadata of type ``kind`` from ``data``, or ``tuf-metadata-malformed`` / ``tuf-metadata-too-large``."""
    if len(data) > MAX_METADATA_BYTES:
        raise reject("tuf-metadata-too-large", f"metadata is {len(data)} bytes; at most {MAX_METADATA_BYTES}")
    try:  # the hardened loader first (depth, lone surrogates, no NaN); python-tuf builds from the parsed object
        doc = safejson.load_object(data, what="TUF metadata", max_bytes=MAX_METADATA_BYTES)
        md: Metadata[Any] = Metadata.from_dict(doc)
    except InputError as exc:
        raise reject("tuf-metadata-malformed", exc.message) from None
    except Exception as exc:  # python-tuf raises DeserializationError, ValueError, KeyError, TypeError ...
        raise reject("tuf-metadata-malformed", f"the metadata does not parse: {exc}") from None
    if not isinstance(md.signed, kind):
        raise reject("tuf-metadata-malformed", f"expected {kind.type} metadata, got {md.signed.type}")
    return md


def check_role_name(name: str) -> str:
    """``name`` if it may name a delegated role, else ``tuf-role-name-invalid``."""
    if not ROLE_NAME.match(name) or name in TOP_LEVEL or ".." in name:
        raise reject("tuf-role-name-invalid", f"{name!r} cannot name a delegated role",
                     hint="use letters, digits, '.', '_' and '-', not a top-level role name")  # fmt: skip
    return name


def check_path(path: str) -> str:
    """``path`` if it is a safe relative target path, else ``tuf-target-path-escapes``."""
    parts = path.split("/")
    bad = (
        not path
        or len(path) > 1024
        or path.startswith("/")
        or "\\" in path
        or any(p in ("", ".", "..") for p in parts)
        or any(ord(c) < 0x20 or c == "\x7f" for c in path)
        or re.match(r"^[A-Za-z]:", path) is not None
    )
    if bad:
        raise reject("tuf-target-path-escapes", f"target path {path!r} is not a plain relative path",
                     hint="no '..', '.', empty segments, leading '/', backslashes or control characters")  # fmt: skip
    return path


def _not_expired(signed: Signed, now: datetime) -> None:
    if signed.is_expired(now):
        raise reject("tuf-expired", f"{signed.type} version {signed.version} expired at {signed.expires.isoformat()}")


def _signatures(delegator: Root | Targets, role: str, md: Metadata[Any]) -> int:
    """Check every signature is by one of ``role``'s keys and verifies; return the signatures still missing."""
    delegated = delegator.get_delegated_role(role)
    payload = md.signed_bytes
    unknown = [k for k in md.signatures if k not in delegated.keyids]
    if unknown:
        raise reject("tuf-signature-unknown-key", f"{role} is signed by {unknown[0][:16]}…, not one of its keys")
    result = delegator.get_verification_result(role, payload, md.signatures)
    bad = [k for k in md.signatures if k not in result.signed]
    if bad:
        raise reject("tuf-signature-invalid", f"the signature of key {bad[0][:16]}… on {role} does not verify")
    return result.missing


@dataclass(frozen=True)
class Verdict:
    """A checked upload: the metadata and how many signatures it still lacks (0: publishable)."""

    metadata: Metadata[Any]
    missing: int


def check_root(data: bytes, current: Root | None, online_keyids: set[str], now: datetime) -> Verdict:
    """A new root version: v1 self-signed, N+1 signed by the threshold of N's root keys and of its own."""
    md = parse(data, Root)
    new: Root = md.signed
    expected = 1 if current is None else current.version + 1
    if new.version != expected:
        raise reject("tuf-version-not-increasing", f"root version {new.version}; the next root is {expected}")
    _not_expired(new, now)
    if not new.consistent_snapshot:
        raise reject("tuf-root-invalid", "the root must set consistent_snapshot (the server serves N.role.json)")
    for role in ("snapshot", "timestamp"):
        if not online_keyids & set(new.roles[role].keyids) or new.roles[role].threshold != 1:
            raise reject("tuf-online-key-missing", f"root's {role} role must name one of the server's online keys "
                         "with threshold 1", hint="GET /api/v1/tuf/online-keys lists them")  # fmt: skip
    known = set(new.roles["root"].keyids) | (set(current.roles["root"].keyids) if current else set())
    unknown = [k for k in md.signatures if k not in known]
    if unknown:
        raise reject("tuf-signature-unknown-key", f"root is signed by {unknown[0][:16]}…, not a root key")
    missing = 0
    for trusted in (current, new) if current is not None else (new,):
        result = trusted.get_verification_result("root", md.signed_bytes, md.signatures)
        ok = {k for k in md.signatures if k in trusted.roles["root"].keyids}
        if ok - set(result.signed):
            raise reject("tuf-signature-invalid", "a root signature does not verify")
        missing = max(missing, result.missing)
    return Verdict(md, missing)


def delegated_names(targets: Targets) -> list[str]:
    """Every role name ``targets`` delegates (succinct bins expanded)."""
    d = targets.delegations
    if d is None:
        return []
    if d.succinct_roles is not None:
        return list(d.succinct_roles.get_roles())
    return list(d.roles or {})


def _check_delegations(new: Targets, role: str, taken: set[str]) -> None:
    d = new.delegations
    if d is None:
        return
    if d.succinct_roles is not None:
        bits = d.succinct_roles.bit_length
        if bits > MAX_BINS_BITS:
            raise reject("tuf-delegation-invalid", f"{2**bits} hash bins; at most {2**MAX_BINS_BITS}")
        check_role_name(d.succinct_roles.name_prefix + "-0")
    names = delegated_names(new)
    for name in names:
        check_role_name(name)
        if name == role or name in taken:
            raise reject("tuf-delegation-invalid", f"role {name!r} is already delegated elsewhere in the repository")
    for keyid in {k for r in ([d.succinct_roles] if d.succinct_roles else list((d.roles or {}).values())) for k in
                  r.keyids}:  # fmt: skip
        if keyid not in d.keys:
            raise reject("tuf-delegation-invalid", f"a delegation names key {keyid[:16]}… that is not in its keys")


def _in_delegation(delegator: Targets, role: str, path: str) -> bool:
    d = delegator.delegations
    if d is None:
        return False
    if d.succinct_roles is not None:
        return d.succinct_roles.get_role_for_target(path) == role
    found = (d.roles or {}).get(role)
    return found is not None and found.is_delegated_path(path)


def check_targets(
    data: bytes,
    role: str,
    current_version: int | None,
    chain: list[tuple[Root | Targets, str]],
    taken: set[str],
    now: datetime,
) -> Verdict:
    """A new version of targets role ``role``.

    ``chain`` is the delegation path from root: ``[(root, "targets"), (targets, "a"), ..., (delegator, role)]``;
    every target must lie within each delegation along it. ``taken`` holds the role names other roles delegate.
    """
    md = parse(data, Targets)
    new: Targets = md.signed
    delegator, name = chain[-1]
    try:
        if name != role:
            raise ValueError(role)
        delegator.get_delegated_role(name)
    except ValueError:
        raise reject("tuf-role-unknown", f"role {role!r} is not delegated") from None
    if current_version is not None and new.version <= current_version:
        raise reject("tuf-version-not-increasing", f"{role} version {new.version} is not above {current_version}")
    _not_expired(new, now)
    for path, target in new.targets.items():
        check_path(path)
        if "sha256" not in target.hashes:
            raise reject("tuf-target-invalid", f"target {path!r} has no sha256 hash")
        for delegator, name in chain[1:]:
            if isinstance(delegator, Targets) and not _in_delegation(delegator, name, path):
                raise reject("tuf-target-outside-delegation", f"target {path!r} is outside {name}'s delegated paths")
    _check_delegations(new, role, taken)
    return Verdict(md, _signatures(delegator, name, md))


def merge_signatures(pending: Metadata[Any], upload: Metadata[Any]) -> Metadata[Any]:
    """``upload`` with the signatures of ``pending`` added when both sign the same bytes."""
    if pending.signed_bytes == upload.signed_bytes:
        for keyid, sig in pending.signatures.items():
            upload.signatures.setdefault(keyid, sig)
    return upload


def now_utc() -> datetime:
    return datetime.now(UTC)


__all__ = ["RepositoryError", "Verdict", "check_path", "check_role_name", "check_root", "check_targets", "parse"]
