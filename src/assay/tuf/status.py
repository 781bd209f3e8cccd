"""A repository's status as plain data: each role's version, expiry, keys, threshold and missing signatures."""

from __future__ import annotations

from typing import Any

from tuf.api.metadata import Metadata, Root, Targets


def _signed_by(delegator: Root | Targets, role: str, md: Metadata[Any]) -> tuple[list[str], int]:
    result = delegator.get_verification_result(role, md.signed_bytes, md.signatures)
    return sorted(result.signed), result.missing


def _row(
    name: str, delegator: Root | Targets | None, md: Metadata[Any] | None, pending: Metadata[Any] | None
) -> dict[str, Any]:
    row: dict[str, Any] = {"role": name, "version": None, "expires": None, "keys": [], "threshold": None}
    if delegator is not None:
        try:
            definition = delegator.get_delegated_role(name)
        except ValueError:
            definition = None
        if definition is not None:
            row["keys"] = sorted(definition.keyids)
            row["threshold"] = definition.threshold
    if md is not None:
        row["version"] = md.signed.version
        row["expires"] = md.signed.expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        if delegator is not None and row["threshold"] is not None:
            row["signatures"], row["missing"] = _signed_by(delegator, name, md)
    if pending is not None and delegator is not None and row["threshold"] is not None:
        signed, missing = _signed_by(delegator, name, pending)
        row["pending"] = {"version": pending.signed.version, "signatures": signed, "missing": missing}
    return row


def describe(
    project: str,
    root: Metadata[Any],
    current: dict[str, Metadata[Any] | None],
    delegations: list[tuple[str, str]],
    delegators: dict[str, Metadata[Any] | None],
    roles: dict[str, Metadata[Any] | None],
    pending: dict[str, Metadata[Any]],
) -> dict[str, Any]:
    """The status document ``GET .../tuf/status`` answers and ``assay tuf status`` prints."""
    r: Root = root.signed
    rows = [_row("root", r, root, pending.get("root"))]
    rows += [_row(name, r, current.get(name), pending.get(name)) for name in ("targets", "snapshot", "timestamp")]
    for role, delegator in delegations:
        d = delegators.get(delegator)
        row = _row(role, None if d is None else d.signed, roles.get(role), pending.get(role))
        row["delegator"] = delegator
        rows.append(row)
    return {"project": project, "consistentSnapshot": r.consistent_snapshot, "roles": rows}
