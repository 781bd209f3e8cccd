"""Evidence rows, their subjects and bytes in the database: idempotent writes, cursor-paged reads."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, exists, insert, select, update

from assay.errors import InputError, VerificationError
from assay.evidence.batch import GroupWriter
from assay.evidence.parse import Item, digest_key
from assay.evidence.trust import Trust, Verdict, parse_identities, parse_keys
from assay.formats import safejson
from assay.formats.trustroot import TrustedRoot, parse_trusted_root
from assay.store.schema import evidence, evidence_blobs, evidence_subjects, evidence_trust
from assay.store.txn import write_transaction

PAGE_MAX = 1000
TRUST_TTL = 2.0
MAX_RETENTION_DAYS = 36500  # a century: more is "forever" (null), and days * 86400 stays far inside int64
_WRITER_LOCK = threading.Lock()
_LOG = logging.getLogger("assay.evidence")


@dataclass
class Stored:
    """An item as stored: its row id, and whether this upload created it."""

    id: int
    digest: str
    created: bool
    verified: bool


def parse_digest(value: str) -> str:
    """``sha256:HEX`` or ``HEX`` → lowercase hex; InputError otherwise."""
    hexpart = value.split(":", 1)[1] if value.startswith("sha256:") else value
    hexpart = hexpart.lower()
    if len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
        raise InputError("bad-digest", f"{value[:80]!r} is not a sha256 digest")
    return hexpart


class EvidenceStore:
    """The evidence tables of one database."""

    def __init__(self, engine: Engine, default_root: Callable[[], TrustedRoot | None]) -> None:
        self.engine = engine
        self.default_root = default_root
        self._group: GroupWriter | None = None
        self._trust_cache: dict[str, tuple[float, Trust]] = {}

    # ---- trust and settings -------------------------------------------------------------

    def settings(self, project: str) -> dict[str, Any]:
        """The project's trust and retention settings as JSON."""
        with self.engine.connect() as conn:
            row = conn.execute(select(evidence_trust).where(evidence_trust.c.project == project)).first()
        if row is None:
            return {"trustedRoot": None, "keys": [], "identities": [], "unverifiedRetentionDays": None}
        return {
            "trustedRoot": json.loads(row.trusted_root) if row.trusted_root else None,
            "keys": json.loads(row.keys),
            "identities": json.loads(row.identities),
            "unverifiedRetentionDays": row.unverified_retention_days,
        }

    def trust(self, project: str) -> Trust:
        """The project's trust: its own trusted root (default: the server's), keys and identities.

        Cached for ``TRUST_TTL`` seconds: a change made through another server process applies within it.
        """
        hit = self._trust_cache.get(project)
        now = time.monotonic()
        if hit is not None and now - hit[0] < TRUST_TTL:
            return hit[1]
        trust = self._load_trust(project)
        self._trust_cache[project] = (now, trust)
        return trust

    def _load_trust(self, project: str) -> Trust:
        s = self.settings(project)
        root = parse_trusted_root(s["trustedRoot"]) if s["trustedRoot"] else self.default_root()
        return Trust(root, parse_keys(s["keys"]), parse_identities(s["identities"]), s["unverifiedRetentionDays"])

    def set_trust(self, project: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Replace the trust fields given (``trustedRoot``, ``keys``, ``identities``), validated first."""
        current = self.settings(project)
        if "trustedRoot" in doc and doc["trustedRoot"] is not None:
            if not isinstance(doc["trustedRoot"], dict):
                raise InputError("trust-malformed", "trustedRoot must be a trusted root (a JSON object) or null")
            parse_trusted_root(doc["trustedRoot"])
        if "keys" in doc:
            parse_keys(doc["keys"])
        if "identities" in doc:
            parse_identities(doc["identities"])
        for k in ("trustedRoot", "keys", "identities"):
            if k in doc:
                current[k] = doc[k]
        self._save(project, current)
        return current

    def set_retention(self, project: str, days: int | None) -> dict[str, Any]:
        """Set how long unverified evidence is kept (None: forever), then apply it."""
        if days is not None and not valid_retention(days):
            raise InputError(
                "bad-retention",
                f"unverifiedRetentionDays must be an integer from 0 to {MAX_RETENTION_DAYS} or null (forever)",
            )
        current = self.settings(project)
        current["unverifiedRetentionDays"] = days
        self._save(project, current)
        self.purge_quietly(project)  # saved and valid: a failure to apply it now is retried at the next upload
        return current

    def _save(self, project: str, s: dict[str, Any]) -> None:
        self._trust_cache.pop(project, None)
        values = {
            "trusted_root": json.dumps(s["trustedRoot"]) if s["trustedRoot"] else None,
            "keys": json.dumps(s["keys"]),
            "identities": json.dumps(s["identities"]),
            "unverified_retention_days": s["unverifiedRetentionDays"],
            "updated": int(time.time()),
        }
        with write_transaction(self.engine) as conn:
            found = conn.execute(
                update(evidence_trust).where(evidence_trust.c.project == project).values(**values)
            ).rowcount
            if not found:
                conn.execute(insert(evidence_trust).values(project=project, **values))

    def policy_text(self, project: str) -> str | None:
        """The project's repository policy document (JSON: policy and files), if set."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(evidence_trust.c.repository_policy).where(evidence_trust.c.project == project)
            ).scalar()

    def set_policy_text(self, project: str, text: str) -> None:
        """Store the project's repository policy document."""
        self._save(project, self.settings(project))
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(evidence_trust).where(evidence_trust.c.project == project).values(repository_policy=text)
            )

    # ---- writes -------------------------------------------------------------------------

    def put(self, project: str, items: list[tuple[Item, Verdict | None, str | None]], uploader: str) -> list[Stored]:
        """Store items (item, verdict or None when unverified, refusal reason) in one transaction; idempotent.

        A verdict must come from :func:`assay.evidence.trust.verify_item`: nothing is stored as verified on
        anyone's say-so.
        """
        for _, v, _ in items:
            if v is not None and not v.sealed:
                raise VerificationError("verdict-not-verified", "evidence can only be marked verified by verify_item")

        def job(conn: Connection) -> list[Stored]:
            return [self._put_one(conn, project, item, v, reason, uploader) for item, v, reason in items]

        return self._writer().run(job)  # type: ignore[no-any-return]

    def _writer(self) -> GroupWriter:
        if self._group is None:
            with _WRITER_LOCK:
                if self._group is None:
                    self._group = GroupWriter(self.engine)
        return self._group

    def _put_one(
        self, conn: Connection, project: str, item: Item, v: Verdict | None, reason: str | None, uploader: str
    ) -> Stored:
        digest = item.digest
        row = conn.execute(
            select(evidence.c.id, evidence.c.verified).where(evidence.c.project == project, evidence.c.digest == digest)
        ).first()
        if row is not None:
            if v is not None and not row.verified:  # verified now (trust changed): upgrade in place
                conn.execute(update(evidence).where(evidence.c.id == row.id).values(**_verdict_values(v)))
                return Stored(row.id, digest, False, True)
            return Stored(row.id, digest, False, bool(row.verified))
        _insert_blob(conn, digest, item.raw)
        now = int(time.time())
        values = {
            "project": project,
            "digest": digest,
            "kind": item.kind,
            "predicate_type": item.predicate_type,
            "uploader": uploader,
            "size": len(item.raw),
            "verified": 0,
            "reason": reason,
            "verified_time": now,
            "signer": None,
            "issuer": None,
            "claims": None,
            "log_entry": None,
        }
        if v is not None:
            values.update(_verdict_values(v))
        new_id = int(conn.execute(insert(evidence).values(**values).returning(evidence.c.id)).scalar_one())
        subjects = {d: n for d, n in item.subjects}
        conn.execute(
            insert(evidence_subjects),
            [{"evidence_id": new_id, "digest": d, "project": project, "name": n[:2000]} for d, n in subjects.items()],
        )
        return Stored(new_id, digest, True, v is not None)

    def purge_all(self) -> int:
        """Apply every project's retention (at server start; uploads apply their project's).

        Each project is purged on its own: one project's failure is logged and never stops the others (nor the
        server starting).
        """
        with self.engine.connect() as conn:
            projects = [
                r[0]
                for r in conn.execute(
                    select(evidence_trust.c.project)
                    .where(evidence_trust.c.unverified_retention_days.is_not(None))
                    .order_by(evidence_trust.c.project)
                )
            ]
        return sum(self.purge_quietly(p) for p in projects)

    def purge_quietly(self, project: str) -> int:
        """:meth:`purge`, its failure logged instead of raised (housekeeping must not fail what triggered it)."""
        try:
            return self.purge(project)
        except Exception:
            _LOG.exception("retention sweep of project %s failed; other projects are unaffected", project)
            return 0

    def purge(self, project: str) -> int:
        """Delete unverified evidence older than the project's retention; never verified evidence.

        A stored value outside 0 … MAX_RETENTION_DAYS (written before it was validated) deletes nothing.
        """
        days = self.settings(project)["unverifiedRetentionDays"]
        if days is None:
            return 0
        if not valid_retention(days):
            _LOG.warning("project %s: unverifiedRetentionDays %.40r is out of range; nothing purged", project, days)
            return 0
        cutoff = int(time.time()) - days * 86400
        with write_transaction(self.engine) as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    select(evidence.c.id).where(
                        evidence.c.project == project, evidence.c.verified == 0, evidence.c.verified_time <= cutoff
                    )
                )
            ]
            if not ids:
                return 0
            conn.execute(delete(evidence_subjects).where(evidence_subjects.c.evidence_id.in_(ids)))
            conn.execute(delete(evidence).where(evidence.c.id.in_(ids)))
            conn.execute(delete(evidence_blobs).where(~exists().where(evidence.c.digest == evidence_blobs.c.digest)))
        return len(ids)

    # ---- reads --------------------------------------------------------------------------

    def search(
        self,
        project: str,
        *,
        subject: str | None = None,
        predicate_type: str | None = None,
        signer: str | None = None,
        since: int | None = None,
        until: int | None = None,
        verified: bool = True,
        cursor: int = 0,
        limit: int = 100,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """A page of matching evidence (oldest first) and the cursor of the next page."""
        limit = max(1, min(limit, PAGE_MAX))
        if subject is not None:
            q = (
                select(evidence)
                .join(evidence_subjects, evidence_subjects.c.evidence_id == evidence.c.id)
                .where(evidence_subjects.c.project == project, evidence_subjects.c.digest == _subject_key(subject))
                .where(evidence_subjects.c.evidence_id > cursor)
                .order_by(evidence_subjects.c.evidence_id)
            )
        else:
            q = select(evidence).where(evidence.c.project == project, evidence.c.id > cursor).order_by(evidence.c.id)
        q = q.where(evidence.c.verified == (1 if verified else 0))
        if predicate_type:
            q = q.where(evidence.c.predicate_type == predicate_type)
        if signer:
            q = q.where(evidence.c.signer == signer)
        if since is not None:
            q = q.where(evidence.c.verified_time >= since)
        if until is not None:
            q = q.where(evidence.c.verified_time <= until)
        with self.engine.connect() as conn:
            rows = list(conn.execute(q.limit(limit + 1)))
            more = len(rows) > limit
            rows = rows[:limit]
            subs: dict[int, list[tuple[str, str]]] = {}
            if rows:
                for s in conn.execute(
                    select(evidence_subjects.c.evidence_id, evidence_subjects.c.digest, evidence_subjects.c.name).where(
                        evidence_subjects.c.evidence_id.in_([r.id for r in rows])
                    )
                ):
                    subs.setdefault(s.evidence_id, []).append((s.digest, s.name))
        items = [_row_json(r, subs.get(r.id, [])) for r in rows]
        return items, (rows[-1].id if more else None)

    def get_bytes(self, project: str, digest: str) -> bytes:
        """The exact uploaded bytes of an item of this project; LookupError when absent."""
        hexd = parse_digest(digest)
        with self.engine.connect() as conn:
            body = conn.execute(
                select(evidence_blobs.c.body)
                .join(evidence, evidence.c.digest == evidence_blobs.c.digest)
                .where(evidence.c.project == project, evidence.c.digest == hexd)
            ).scalar()
        if body is None:
            raise LookupError(f"no evidence sha256:{hexd} in project {project}")
        return bytes(body)

    def digests_about(self, project: str, subject: str, limit: int) -> list[str]:
        """Content digests (hex) of at most ``limit`` verified items about a subject, oldest first (no bytes)."""
        q = (
            select(evidence.c.digest)
            .join(evidence_subjects, evidence_subjects.c.evidence_id == evidence.c.id)
            .where(evidence_subjects.c.project == project, evidence_subjects.c.digest == _subject_key(subject))
            .where(evidence.c.verified == 1)
            .order_by(evidence_subjects.c.evidence_id)
            .limit(max(1, limit))
        )
        with self.engine.connect() as conn:
            return [str(r[0]) for r in conn.execute(q)]

    def item(self, project: str, digest: str) -> tuple[dict[str, Any], bytes]:
        """One item of this project as search answers it, with its exact bytes; LookupError when absent."""
        hexd = parse_digest(digest)
        with self.engine.connect() as conn:
            row = conn.execute(select(evidence).where(evidence.c.project == project, evidence.c.digest == hexd)).first()
            if row is None:
                raise LookupError(f"no evidence sha256:{hexd} in project {project}")
            subs = [
                (s.digest, s.name)
                for s in conn.execute(
                    select(evidence_subjects.c.digest, evidence_subjects.c.name).where(
                        evidence_subjects.c.evidence_id == row.id
                    )
                )
            ]
        return _row_json(row, subs), self.get_bytes(project, hexd)

    def item_row(self, project: str, digest: str) -> dict[str, Any] | None:
        """One item's row (as :meth:`search` shows it), verified or not; None when the project has no such item."""
        try:
            return self.item(project, digest)[0]
        except LookupError:
            return None

    def about(self, project: str, subject: str, verified: bool = True) -> list[tuple[dict[str, Any], bytes]]:
        """Every item about a subject digest, with its bytes (for policy evaluation and the graph)."""
        out = []
        cursor = 0
        while True:
            page, nxt = self.search(project, subject=subject, verified=verified, cursor=cursor, limit=PAGE_MAX)
            for row in page:
                out.append((row, self.get_bytes(project, row["digest"])))
            if nxt is None:
                return out
            cursor = nxt


def valid_retention(days: object) -> bool:
    """A retention in days: an int (not a bool) from 0 to MAX_RETENTION_DAYS."""
    return isinstance(days, int) and not isinstance(days, bool) and 0 <= days <= MAX_RETENTION_DAYS


def _insert_blob(conn: Connection, digest: str, body: bytes) -> None:
    """Insert the bytes unless another item (or project) already stored the same ones."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(evidence_blobs).values(digest=digest, body=body).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(sqlite_insert(evidence_blobs).values(digest=digest, body=body).on_conflict_do_nothing())


def _subject_key(subject: str) -> str:
    alg, _, value = subject.partition(":")
    key = digest_key(alg, value) if value else None
    if key is None:
        raise InputError("bad-digest", f"{subject[:80]!r}: give the subject as ALG:HEX (sha256:...)")
    return key


def _verdict_values(v: Verdict) -> dict[str, Any]:
    return {
        "verified": 1,
        "reason": None,
        "signer": v.signer[:1024],
        "issuer": v.issuer[:1024] if v.issuer else None,
        "claims": json.dumps(v.claims) if v.claims else None,
        "log_entry": v.log_entry,
        "verified_time": int(v.time) if v.time else int(time.time()),
    }


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _row_json(r: Any, subjects: list[tuple[str, str]]) -> dict[str, Any]:
    # Rows are (digest, name); one subject's digests share its name. Two subjects may share a name too
    # (two builds of ``app``): a digest whose algorithm that name's entry already has starts another entry,
    # so no digest is dropped.
    grouped: list[tuple[str, dict[str, str]]] = []
    by_name: dict[str, list[dict[str, str]]] = {}
    filled: dict[tuple[str, str], int] = {}  # (name, alg) -> how many of that name's entries have alg
    for d, n in sorted(subjects, key=lambda s: (s[1], s[0])):
        alg, _, value = d.partition(":")
        entries = by_name.setdefault(n, [])
        k = filled.get((n, alg), 0)
        if k == len(entries):
            entries.append({})
            grouped.append((n, entries[-1]))
        entries[k][alg] = value
        filled[(n, alg)] = k + 1
    out: dict[str, Any] = {
        "digest": "sha256:" + r.digest,
        "kind": r.kind,
        "predicateType": r.predicate_type,
        "subjects": [{"name": n, "digest": d} for n, d in grouped],
        "verified": bool(r.verified),
        "verifiedTime" if r.verified else "uploadedTime": _iso(r.verified_time),
        "uploadedBy": r.uploader,
        "size": r.size,
    }
    if r.verified:
        out["signer"] = {
            "identity": r.signer,
            "issuer": r.issuer,
            "claims": safejson.loads(r.claims) if r.claims else {},
        }
        if r.log_entry:
            out["logEntry"] = r.log_entry
    else:
        out["reason"] = r.reason
    return out
