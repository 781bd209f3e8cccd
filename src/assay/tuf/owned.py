"""Server-owned targets: bytes the server itself publishes (its Sigstore ``trusted_root.json`` and
``signing_config.v0.2.json``) through the delegated role ``sigstore-trust``, signed with the server's online key.

The project's offline targets key delegates ``sigstore-trust`` (exactly these paths) to the online key; the server
never holds the targets key. A new version goes through the same checks as any upload.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from securesystemslib.signer import Key, Signer  # type: ignore[attr-defined]
from sqlalchemy import select
from tuf.api.metadata import DelegatedRole, Delegations, Metadata, Root, TargetFile, Targets

from assay.store.schema import tuf_blobs, tuf_metadata
from assay.store.txn import write_transaction
from assay.tuf.repository import TUF_LOCK, Published, Repository, to_bytes

ROLE = "sigstore-trust"
PATHS = ("trusted_root.json", "signing_config.v0.2.json")
EXPIRY_DAYS = 365


def delegation(online: Key) -> Delegations:
    """The targets role's delegation of ``sigstore-trust`` (exactly :data:`PATHS`) to the server's online key."""
    role = DelegatedRole(ROLE, [online.keyid], 1, True, paths=list(PATHS))
    return Delegations({online.keyid: online}, roles={ROLE: role})


def publish(repo: Repository, project: str, files: dict[str, bytes]) -> Published | None:
    """Publish ``files`` (names from :data:`PATHS`) as a new ``sigstore-trust`` version when any bytes changed.

    Returns None when nothing changed. Raises ``tuf-role-unknown`` when the project does not delegate the role."""
    with repo.engine.connect() as conn:
        row = conn.execute(
            select(tuf_metadata.c.data).where(tuf_metadata.c.project == project, tuf_metadata.c.role == ROLE)
            .order_by(tuf_metadata.c.version.desc()).limit(1)
        ).first()  # fmt: skip
        targets_row = conn.execute(
            select(tuf_metadata.c.data).where(tuf_metadata.c.project == project, tuf_metadata.c.role == "targets")
            .order_by(tuf_metadata.c.version.desc()).limit(1)
        ).first()  # fmt: skip
    current: Metadata[Targets] | None = None if row is None else Metadata.from_bytes(bytes(row[0]))
    wanted = {name: TargetFile.from_data(name, data, ["sha256"]) for name, data in files.items()}
    if current is not None and all(
        name in current.signed.targets and current.signed.targets[name].hashes == tf.hashes
        for name, tf in wanted.items()
    ) and set(current.signed.targets) == set(wanted):  # fmt: skip
        return None
    signer = _signer(repo, targets_row)
    with write_transaction(repo.engine, TUF_LOCK) as conn:
        for data in files.values():
            digest = hashlib.sha256(data).hexdigest()
            have = conn.execute(select(tuf_blobs.c.sha256).where(tuf_blobs.c.project == project,
                                                                 tuf_blobs.c.sha256 == digest)).first()  # fmt: skip
            if have is None:
                repo._put_blob(conn, project, digest, data)
    version = 1 if current is None else current.signed.version + 1
    expires = (datetime.now(UTC) + timedelta(days=EXPIRY_DAYS)).replace(microsecond=0)
    md = Metadata(Targets(version=version, expires=expires, targets=wanted))
    md.sign(signer)
    return repo.upload_role(project, ROLE, to_bytes(md))


def _signer(repo: Repository, targets_row: Any) -> Signer:
    from assay.tuf.validate import reject

    if targets_row is None:
        raise reject("tuf-not-initialised", "the project has no TUF repository")
    targets: Targets = Metadata[Targets].from_bytes(bytes(targets_row[0])).signed
    roles = targets.delegations.roles if targets.delegations is not None else None
    if not roles or ROLE not in roles:
        raise reject("tuf-role-unknown", f"the project's targets role does not delegate {ROLE!r}",
                     hint="assay tuf init --sigstore-trust delegates it to the server's online key")  # fmt: skip
    return repo.online.for_keyids(roles[ROLE].keyids)


def root_keyids(root: Root) -> set[str]:
    """The keyids of a root's snapshot and timestamp roles (the online keys it trusts)."""
    return set(root.roles["snapshot"].keyids) | set(root.roles["timestamp"].keyids)
