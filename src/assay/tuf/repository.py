"""The stored TUF repositories: published and pending role versions, target bytes, online snapshot/timestamp.

Synchronous (the server calls it in worker threads). Every write runs in one write transaction under one
advisory lock, so a role version, the snapshot naming it and the timestamp naming that snapshot are published
together or not at all, and two server processes never number versions twice.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from securesystemslib.signer import Signer  # type: ignore[attr-defined]
from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.engine import Engine
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, Targets, Timestamp
from tuf.api.serialization.json import JSONSerializer

from assay.store.schema import tuf_blobs, tuf_delegations, tuf_metadata, tuf_pending
from assay.store.txn import write_transaction
from assay.tuf import validate
from assay.tuf.validate import reject

TUF_LOCK = 7234025
SNAPSHOT_EXPIRY = 7 * 86400.0
TIMESTAMP_EXPIRY = 86400.0
SERIALIZER = JSONSerializer(compact=False)


def _now_ms() -> int:
    return int(time.time() * 1000)


def to_bytes(md: Metadata[Any]) -> bytes:
    """Metadata as the repository serves it."""
    return md.to_bytes(SERIALIZER)


@dataclass
class OnlineKeys:
    """The server's online signers (snapshot, timestamp and server-owned targets roles); first is preferred."""

    signers: list[Signer]

    @property
    def keyids(self) -> set[str]:
        return {s.public_key.keyid for s in self.signers}

    def public(self) -> list[dict[str, Any]]:
        return [{"keyid": s.public_key.keyid, **s.public_key.to_dict()} for s in self.signers]

    def for_keyids(self, keyids: list[str] | set[str]) -> Signer:
        """The online signer whose key is among ``keyids`` (a root naming none is refused at upload)."""
        for s in self.signers:
            if s.public_key.keyid in keyids:
                return s
        raise reject("tuf-online-key-missing", "the server holds none of the keys this role names",
                     hint="start the server with the online key the root names (--tuf-online-key)")  # fmt: skip


@dataclass
class Published:
    """The answer to an upload."""

    role: str
    version: int
    missing: int = 0
    snapshot: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        status = "pending" if self.missing else "published"
        return {"role": self.role, "version": self.version, "status": status, "missing": self.missing,
                "snapshot": self.snapshot, **self.extra}  # fmt: skip


class Repository:
    """Every project's TUF repository in one database."""

    def __init__(
        self,
        engine: Engine,
        online: OnlineKeys,
        snapshot_expiry: float = SNAPSHOT_EXPIRY,
        timestamp_expiry: float = TIMESTAMP_EXPIRY,
    ) -> None:
        self.engine = engine
        self.online = online
        self.snapshot_expiry = snapshot_expiry
        self.timestamp_expiry = timestamp_expiry

    # ---- reads ------------------------------------------------------------------------------

    def _latest(self, conn: Connection, project: str, role: str) -> tuple[int, bytes] | None:
        row = conn.execute(
            select(tuf_metadata.c.version, tuf_metadata.c.data)
            .where(tuf_metadata.c.project == project, tuf_metadata.c.role == role)
            .order_by(tuf_metadata.c.version.desc()).limit(1)
        ).first()  # fmt: skip
        return None if row is None else (int(row[0]), bytes(row[1]))

    def _current(self, conn: Connection, project: str, role: str) -> Metadata[Any] | None:
        found = self._latest(conn, project, role)
        return None if found is None else Metadata.from_bytes(found[1])

    def metadata(self, project: str, filename: str) -> bytes:
        """A served metadata file: ``root.json``, ``timestamp.json`` or ``N.ROLE.json`` (404 otherwise)."""
        if not filename.endswith(".json"):
            raise LookupError(f"no TUF file {filename!r}")
        stem = filename.removesuffix(".json")
        with self.engine.connect() as conn:
            if stem in ("root", "timestamp"):
                found = self._latest(conn, project, stem)
                if found is None:
                    raise LookupError(f"project {project!r} has no TUF {stem}")
                return found[1]
            number, dot, role = stem.partition(".")
            if not dot or not number.isdigit() or not role or role == "timestamp":
                raise LookupError(f"no TUF file {filename!r}")
            row = conn.execute(
                select(tuf_metadata.c.data).where(
                    tuf_metadata.c.project == project, tuf_metadata.c.role == role,
                    tuf_metadata.c.version == int(number),
                )
            ).first()  # fmt: skip
        if row is None:
            raise LookupError(f"project {project!r} has no TUF {filename}")
        return bytes(row[0])

    def blob(self, project: str, name: str) -> bytes:
        """A target's bytes by its hashed name ``SHA256.BASENAME`` (404 otherwise)."""
        digest, dot, _ = name.partition(".")
        if not dot or len(digest) != 64:
            raise LookupError(f"no TUF target {name!r}")
        with self.engine.connect() as conn:
            row = conn.execute(
                select(tuf_blobs.c.data).where(tuf_blobs.c.project == project, tuf_blobs.c.sha256 == digest.lower())
            ).first()
        if row is None:
            raise LookupError(f"no TUF target {name!r}")
        return bytes(row[0])

    def pending(self, project: str, role: str) -> bytes:
        """The pending (partially signed) version of ``role`` (404 when there is none)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(tuf_pending.c.data).where(tuf_pending.c.project == project, tuf_pending.c.role == role)
            ).first()
        if row is None:
            raise LookupError(f"no pending version of {role!r}")
        return bytes(row[0])

    def initialised(self, project: str) -> bool:
        with self.engine.connect() as conn:
            return self._latest(conn, project, "root") is not None

    # ---- writes -----------------------------------------------------------------------------

    def put_blob(self, project: str, data: bytes) -> dict[str, Any]:
        """Store a target's bytes (content-addressed; served once a role version names them)."""
        if len(data) > validate.MAX_TARGET_BYTES:
            raise reject("tuf-target-too-large", f"target is {len(data)} bytes; at most {validate.MAX_TARGET_BYTES}")
        digest = hashlib.sha256(data).hexdigest()
        with write_transaction(self.engine, TUF_LOCK) as conn:
            if self._latest(conn, project, "root") is None:
                raise reject("tuf-not-initialised", f"project {project!r} has no TUF repository",
                             hint="an admin runs assay tuf init")  # fmt: skip
            self._put_blob(conn, project, digest, data)
        return {"sha256": digest, "length": len(data)}

    def _put_blob(self, conn: Connection, project: str, digest: str, data: bytes) -> None:
        have = conn.execute(
            select(tuf_blobs.c.sha256).where(tuf_blobs.c.project == project, tuf_blobs.c.sha256 == digest)
        ).first()
        if have is None:
            conn.execute(insert(tuf_blobs).values(project=project, sha256=digest, length=len(data), data=data,
                                                  created=_now_ms()))  # fmt: skip

    def init(self, project: str, root: bytes, targets: bytes) -> dict[str, Any]:
        """Publish root v1 and targets v1 (both fully signed), then snapshot and timestamp v1."""
        now = validate.now_utc()
        with write_transaction(self.engine, TUF_LOCK) as conn:
            if self._latest(conn, project, "root") is not None:
                raise reject("tuf-already-initialised", f"project {project!r} already has a TUF repository",
                             hint="rotate the root with assay tuf rotate-root")  # fmt: skip
            rv = validate.check_root(root, None, self.online.keyids, now)
            if rv.missing:
                raise reject("tuf-threshold-not-met", f"root v1 lacks {rv.missing} signature(s)")
            tv = validate.check_targets(targets, "targets", None, [(rv.metadata.signed, "targets")], set(), now)
            if tv.missing:
                raise reject("tuf-threshold-not-met", f"targets v1 lacks {tv.missing} signature(s)")
            self._check_blobs(conn, project, tv.metadata.signed)
            self._store(conn, project, "root", rv.metadata)
            self._publish_targets(conn, project, "targets", tv.metadata)
            snap = self._resign(conn, project, rv.metadata.signed, snapshot=True)
        return {"root": 1, "targets": tv.metadata.signed.version, "snapshot": snap}

    def upload_root(self, project: str, data: bytes, partial: bool = False) -> Published:
        """Publish root N+1 (signed by the thresholds of N's and its own root keys), or keep it pending."""
        now = validate.now_utc()
        with write_transaction(self.engine, TUF_LOCK) as conn:
            current = self._current(conn, project, "root")
            if current is None:
                raise LookupError(f"project {project!r} has no TUF repository")
            data = self._merged(conn, project, "root", data)
            verdict = validate.check_root(data, current.signed, self.online.keyids, now)
            md = verdict.metadata
            if verdict.missing:
                return self._keep_pending(conn, project, "root", md, verdict.missing, partial)
            self._store(conn, project, "root", md)
            conn.execute(delete(tuf_pending).where(tuf_pending.c.project == project, tuf_pending.c.role == "root"))
            snap = self._resign(conn, project, md.signed, snapshot=True)
        return Published("root", md.signed.version, snapshot=snap)

    def upload_role(
        self,
        project: str,
        role: str,
        data: bytes,
        partial: bool = False,
        may_delegate: Callable[[], None] = lambda: None,
    ) -> Published:
        """Publish a targets or delegated role version that passes every check (see :mod:`assay.tuf.validate`).

        ``may_delegate`` is called (and may refuse) when the version changes the role's delegations."""
        now = validate.now_utc()
        with write_transaction(self.engine, TUF_LOCK) as conn:
            root = self._current(conn, project, "root")
            if root is None:
                raise LookupError(f"project {project!r} has no TUF repository")
            if role in ("root", "snapshot", "timestamp"):
                raise reject("tuf-role-unknown", f"{role} is not uploaded here", hint="root: assay tuf rotate-root; "
                             "snapshot and timestamp are signed by the server")  # fmt: skip
            chain = self._chain(conn, project, role, root.signed)
            current = self._current(conn, project, role)
            taken = {
                str(r[0]) for r in conn.execute(
                    select(tuf_delegations.c.role).where(
                        tuf_delegations.c.project == project, tuf_delegations.c.delegator != role
                    )
                )
            }  # fmt: skip
            data = self._merged(conn, project, role, data)
            verdict = validate.check_targets(
                data, role, None if current is None else current.signed.version, chain, taken, now
            )
            md = verdict.metadata
            old = None if current is None else current.signed.delegations
            if (None if old is None else old.to_dict()) != (
                None if md.signed.delegations is None else md.signed.delegations.to_dict()
            ):
                may_delegate()
            self._check_blobs(conn, project, md.signed)
            if verdict.missing:
                return self._keep_pending(conn, project, role, md, verdict.missing, partial)
            self._publish_targets(conn, project, role, md)
            snap = self._resign(conn, project, root.signed, snapshot=True)
        return Published(role, md.signed.version, snapshot=snap)

    def _chain(self, conn: Connection, project: str, role: str, root: Root) -> list[tuple[Root | Targets, str]]:
        chain: list[tuple[Root | Targets, str]] = []
        name = role
        while name != "targets":
            row = conn.execute(
                select(tuf_delegations.c.delegator).where(
                    tuf_delegations.c.project == project, tuf_delegations.c.role == name
                )
            ).first()
            if row is None or len(chain) > 32:
                raise reject("tuf-role-unknown", f"role {name!r} is not delegated in project {project!r}",
                             hint="a policy_writer delegates it first: assay tuf delegate")  # fmt: skip
            delegator = self._current(conn, project, str(row[0]))
            if delegator is None:
                raise reject("tuf-role-unknown", f"role {name!r}'s delegator {row[0]!r} has no published version")
            chain.append((delegator.signed, name))
            name = str(row[0])
        chain.append((root, "targets"))
        return list(reversed(chain))

    def _merged(self, conn: Connection, project: str, role: str, data: bytes) -> bytes:
        """``data`` with the signatures of the pending version over the same bytes added."""
        row = conn.execute(
            select(tuf_pending.c.data).where(tuf_pending.c.project == project, tuf_pending.c.role == role)
        ).first()
        if row is None:
            return data
        try:
            upload = Metadata.from_bytes(data)
        except Exception:
            return data  # the checks refuse it with their own reason
        return to_bytes(validate.merge_signatures(Metadata.from_bytes(bytes(row[0])), upload))

    def _keep_pending(
        self, conn: Connection, project: str, role: str, md: Metadata[Any], missing: int, partial: bool
    ) -> Published:
        if not partial:
            raise reject("tuf-threshold-not-met", f"{role} version {md.signed.version} lacks {missing} signature(s)",
                         hint="collect them with assay tuf sign-role (uploads with --partial are kept pending)")  # fmt: skip
        conn.execute(delete(tuf_pending).where(tuf_pending.c.project == project, tuf_pending.c.role == role))
        conn.execute(insert(tuf_pending).values(project=project, role=role, version=md.signed.version,
                                                data=to_bytes(md), created=_now_ms()))  # fmt: skip
        return Published(role, md.signed.version, missing=missing)

    def _check_blobs(self, conn: Connection, project: str, targets: Targets) -> None:
        if not targets.targets:
            return
        wanted = {t.hashes["sha256"]: (p, t.length) for p, t in targets.targets.items()}
        have: dict[str, int] = {}
        keys = list(wanted)
        for i in range(0, len(keys), 500):
            rows = conn.execute(
                select(tuf_blobs.c.sha256, tuf_blobs.c.length).where(
                    tuf_blobs.c.project == project, tuf_blobs.c.sha256.in_(keys[i : i + 500])
                )
            )
            have.update({str(r[0]): int(r[1]) for r in rows})
        for digest, (path, length) in wanted.items():
            if digest not in have:
                raise reject("tuf-target-missing", f"target {path!r} ({digest[:16]}…) was not uploaded",
                             hint="assay tuf add-target uploads the file with the metadata")  # fmt: skip
            if have[digest] != length:
                raise reject("tuf-target-invalid", f"target {path!r}: length {length}, uploaded {have[digest]}")

    def _store(self, conn: Connection, project: str, role: str, md: Metadata[Any]) -> None:
        """Publish ``md`` re-serialised from what was checked, never the upload's own bytes (no JSON that two
        parsers could read differently, e.g. duplicate keys, reaches a client)."""
        conn.execute(insert(tuf_metadata).values(
            project=project, role=role, version=md.signed.version, data=to_bytes(md),
            expires=int(md.signed.expires.timestamp()), created=_now_ms(),
        ))  # fmt: skip

    def _publish_targets(self, conn: Connection, project: str, role: str, md: Metadata[Any]) -> None:
        self._store(conn, project, role, md)
        conn.execute(delete(tuf_pending).where(tuf_pending.c.project == project, tuf_pending.c.role == role))
        conn.execute(delete(tuf_delegations).where(tuf_delegations.c.project == project,
                                                   tuf_delegations.c.delegator == role))  # fmt: skip
        names = validate.delegated_names(md.signed)
        if names:
            conn.execute(insert(tuf_delegations), [{"project": project, "role": n, "delegator": role} for n in names])

    # ---- online signing ---------------------------------------------------------------------

    def _resign(self, conn: Connection, project: str, root: Root, snapshot: bool) -> int:
        """Sign a new timestamp (and, when ``snapshot``, a new snapshot naming every current role version)."""
        now = datetime.now(UTC).replace(microsecond=0)
        found = self._latest(conn, project, "snapshot")
        snap_version = 0 if found is None else found[0]
        if snapshot or found is None:
            roles = {"targets"} | {
                str(r[0]) for r in conn.execute(select(tuf_delegations.c.role).where(tuf_delegations.c.project == project))
            }  # fmt: skip
            versions = conn.execute(
                select(tuf_metadata.c.role, func.max(tuf_metadata.c.version))
                .where(tuf_metadata.c.project == project).group_by(tuf_metadata.c.role)
            ).all()  # fmt: skip
            meta = {f"{r}.json": MetaFile(int(v)) for r, v in versions if r in roles}
            snap_version += 1
            snap = Metadata(Snapshot(snap_version, None, now + timedelta(seconds=self.snapshot_expiry), meta))
            snap.sign(self.online.for_keyids(root.roles["snapshot"].keyids))
            self._store(conn, project, "snapshot", snap)
        ts_found = self._latest(conn, project, "timestamp")
        ts_version = 1 if ts_found is None else ts_found[0] + 1
        ts = Metadata(Timestamp(ts_version, None, now + timedelta(seconds=self.timestamp_expiry),
                                MetaFile(snap_version)))  # fmt: skip
        ts.sign(self.online.for_keyids(root.roles["timestamp"].keyids))
        self._store(conn, project, "timestamp", ts)
        return snap_version

    def resign_due(self) -> list[tuple[str, str]]:
        """Re-sign every snapshot and timestamp past half its lifetime; returns what was re-signed."""
        now = time.time()
        done: list[tuple[str, str]] = []
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(tuf_metadata.c.project, tuf_metadata.c.role, func.max(tuf_metadata.c.version))
                .where(tuf_metadata.c.role.in_(("snapshot", "timestamp")))
                .group_by(tuf_metadata.c.project, tuf_metadata.c.role)
            ).all()  # fmt: skip
            due: dict[str, set[str]] = {}
            for project, role, version in rows:
                exp = conn.execute(select(tuf_metadata.c.expires).where(
                    tuf_metadata.c.project == project, tuf_metadata.c.role == role, tuf_metadata.c.version == version
                )).scalar_one()  # fmt: skip
                period = self.snapshot_expiry if role == "snapshot" else self.timestamp_expiry
                if exp - now < period / 2:
                    due.setdefault(str(project), set()).add(str(role))
        for project, roles in sorted(due.items()):
            with write_transaction(self.engine, TUF_LOCK) as conn:
                root = self._current(conn, project, "root")
                if root is None:
                    continue
                self._resign(conn, project, root.signed, snapshot="snapshot" in roles)
            done.extend((project, r) for r in sorted(roles))
        return done

    # ---- status -----------------------------------------------------------------------------

    def status(self, project: str) -> dict[str, Any]:
        """Every role: version, expiry, keys, threshold, and signatures a pending version still lacks."""
        from assay.tuf.status import describe

        with self.engine.connect() as conn:
            root = self._current(conn, project, "root")
            if root is None:
                raise LookupError(f"project {project!r} has no TUF repository")
            current = {r: self._current(conn, project, r) for r in ("targets", "snapshot", "timestamp")}
            delegations = [(str(r[0]), str(r[1])) for r in conn.execute(
                select(tuf_delegations.c.role, tuf_delegations.c.delegator)
                .where(tuf_delegations.c.project == project).order_by(tuf_delegations.c.role)
            )]  # fmt: skip
            delegators: dict[str, Metadata[Any] | None] = {}
            roles: dict[str, Metadata[Any] | None] = {}
            for role, delegator in delegations:
                if delegator not in delegators:
                    delegators[delegator] = self._current(conn, project, delegator)
                roles[role] = self._current(conn, project, role)
            pending = {str(r[0]): Metadata.from_bytes(bytes(r[1])) for r in conn.execute(
                select(tuf_pending.c.role, tuf_pending.c.data).where(tuf_pending.c.project == project)
            )}  # fmt: skip
        return describe(project, root, current, delegations, delegators, roles, pending)
