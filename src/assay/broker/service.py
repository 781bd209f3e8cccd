"""The broker's stored state and its unwrap decision: keys, policy versions, nonces, release records.

Synchronous (the routes call it in a worker thread). The transparency-log append is handed in; an unwrap's
nonce and release record are written in the log append's own transaction (one commit per group of unwraps).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from assay.broker import kek
from assay.broker import policy as policies
from assay.broker.signed import SignedPolicy
from assay.crypt import age, jwe
from assay.errors import AssayError, InputError, VerificationError
from assay.store.schema import broker_keys, broker_nonces, broker_policies, broker_releases

Claim = Callable[[Connection], None]
Record = Callable[[Connection, int], None]


class Append(Protocol):
    """Appends a statement to the transparency log; returns (index, leaf hash). ``claim`` and ``record`` run in
    the append's own transaction: ``claim`` before indexes are assigned (when it raises, nothing is appended and
    the error is raised here), ``record`` with the entry's index."""

    def __call__(
        self, statement: bytes, claim: Claim | None = None, record: Record | None = None
    ) -> tuple[int, str]: ...


STATEMENT_TYPE = "https://assay.dev/broker-release/v1"
REQUEST_SKEW = 300  # seconds a request's timestamp may differ from the server's clock
NONCE_SWEEP = 30.0  # seconds between deletions of expired nonces (a per-process timer)
_swept = {"at": 0.0}


class Refused(VerificationError):
    """An unwrap the policy (or the evidence) does not allow: HTTP 403, logged."""

    rules: tuple[str, ...] = ()  # the rules that failed (when the policy refused)


@dataclass(frozen=True)
class Key:
    project: str
    name: str
    version: int
    recipient: str
    private_ref: str
    algorithm: str = kek.X25519

    def to_json(self) -> dict[str, Any]:
        return {"project": self.project, "name": self.name, "version": self.version, "recipient": self.recipient,
                "algorithm": self.algorithm}  # fmt: skip


def _now_ms() -> int:
    return int(time.time() * 1000)


def create_key(engine: Engine, key_dir: Path, project: str, name: str, actor: str, kek_spec: str = "file") -> Key:
    """A new KEK version in the backend ``kek_spec`` names (:mod:`assay.broker.kek`: a 0600 file under
    ``key_dir``, a PKCS#11 token, AWS KMS); the recipient and the private part's reference in the database."""
    with engine.begin() as conn:
        current = conn.execute(
            select(func.max(broker_keys.c.version)).where(broker_keys.c.project == project, broker_keys.c.name == name)
        ).scalar()
        version = int(current or 0) + 1
        made = kek.create(kek_spec, key_dir, project, name, version)
        other = conn.execute(
            select(broker_keys.c.project, broker_keys.c.name)
            .where(
                broker_keys.c.public_key == made.recipient,
                or_(broker_keys.c.project != project, broker_keys.c.name != name),
            )
            .limit(1)
        ).first()
        if other is not None:  # one HSM object or KMS key named by two broker keys: either policy would open both
            raise InputError(
                "kek-in-use",
                f"that key-encryption key already serves another broker key ({other.project}/{other.name}); a KEK "
                "belongs to one key, or that key's policy would not be the only one releasing its files",
            )
        conn.execute(
            insert(broker_keys).values(
                project=project, name=name, version=version, algorithm=made.algorithm, public_key=made.recipient,
                private_ref=made.private_ref, created=_now_ms(), created_by=actor,
            )
        )  # fmt: skip
    return Key(project, name, version, made.recipient, made.private_ref, made.algorithm)


def keys(engine: Engine, project: str, name: str, conn: Connection | None = None) -> list[Key]:
    """Every version of a key, newest first; ``broker-key-not-found`` (404) when there is none."""
    with contextlib.nullcontext(conn) if conn is not None else engine.connect() as conn:
        rows = conn.execute(
            select(broker_keys).where(broker_keys.c.project == project, broker_keys.c.name == name)
            .order_by(broker_keys.c.version.desc())
        ).all()  # fmt: skip
    if not rows:
        raise LookupError(f"no broker key {project}/{name}")
    return [Key(r.project, r.name, r.version, r.public_key, r.private_ref, r.algorithm) for r in rows]


def list_keys(engine: Engine, project: str) -> list[dict[str, Any]]:
    """The project's keys: each name with its newest version and recipient."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(broker_keys).where(broker_keys.c.project == project)
            .order_by(broker_keys.c.name, broker_keys.c.version.desc())
        ).all()  # fmt: skip
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        out.setdefault(r.name, Key(r.project, r.name, r.version, r.public_key, r.private_ref, r.algorithm).to_json())
    return list(out.values())


def put_policy(
    engine: Engine, project: str, name: str, signed: SignedPolicy, envelope: bytes, actor: str, append: Append
) -> dict[str, Any]:
    """Store a new policy version (its signature verified by the caller, its rules checked here) and record it
    in the transparency log."""
    keys(engine, project, name)
    document = signed.document
    parsed = policies.parse(document)
    with engine.connect() as conn:
        current = conn.execute(
            select(func.max(broker_policies.c.version)).where(
                broker_policies.c.project == project, broker_policies.c.key_name == name
            )
        ).scalar()
    version = int(current or 0) + 1
    statement = rfc8785.dumps({
        "_type": "https://assay.dev/broker-policy/v1", "project": project, "key": name, "version": version,
        "policyDigest": parsed.digest, "writtenBy": actor, "signedBy": signed.signer, "time": int(time.time()),
    })  # fmt: skip
    index, _ = append(statement)
    with engine.begin() as conn:
        conn.execute(
            insert(broker_policies).values(
                project=project, key_name=name, version=version, document=document.decode(), digest=parsed.digest,
                written_by=actor, signer=signed.signer, envelope=envelope.decode(errors="replace"), log_index=index,
                created=_now_ms(),
            )
        )  # fmt: skip
    return {"project": project, "key": name, "version": version, "digest": parsed.digest, "logIndex": index,
            "signer": signed.signer}  # fmt: skip


def current_policy(engine: Engine, project: str, name: str, conn: Connection | None = None) -> tuple[int, bytes] | None:
    with contextlib.nullcontext(conn) if conn is not None else engine.connect() as conn:
        row = conn.execute(
            select(broker_policies.c.version, broker_policies.c.document)
            .where(broker_policies.c.project == project, broker_policies.c.key_name == name)
            .order_by(broker_policies.c.version.desc()).limit(1)
        ).first()  # fmt: skip
    return (int(row.version), row.document.encode()) if row else None


def _nonce_claim(project: str, name: str, nonce: object, now: float) -> Callable[[Connection], None]:
    """The replay guard, run in the log append's own transaction: the nonce's row (unique per key), and every
    ``NONCE_SWEEP`` seconds the removal of expired ones."""
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 128:
        raise InputError("bad-nonce", "the request needs a nonce of 16 to 128 characters")
    sweep = now - _swept["at"] > NONCE_SWEEP
    if sweep:
        _swept["at"] = now
    row = {"project": project, "key_name": name, "nonce": nonce, "expires": int(now) + 2 * REQUEST_SKEW}

    def claim(conn: Connection) -> None:
        if sweep:
            conn.execute(delete(broker_nonces).where(broker_nonces.c.expires < int(now)))
        conn.execute(insert(broker_nonces).values(**row))

    return claim


def _stanza(doc: object) -> age.Stanza:
    if not isinstance(doc, dict) or not isinstance(doc.get("args"), list) or not isinstance(doc.get("body"), str):
        raise InputError("bad-unwrap-request", "stanza: {type, args, body (base64)}")
    try:
        body = base64.b64decode(doc["body"], validate=True)
    except ValueError:
        raise InputError("bad-unwrap-request", "stanza body is not base64") from None
    return age.Stanza(str(doc.get("type")), tuple(str(a) for a in doc["args"]), body)


def _ephemeral(pem: object) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(str(pem).encode())
    except ValueError:
        raise InputError("bad-unwrap-request", "ephemeralKey is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InputError("bad-unwrap-request", "ephemeralKey must be a P-256 public key")
    return key


def _identity(key: Key) -> age.Unwrapper:
    """What opens the KEK version's stanzas (a file identity read only here, or a P-256 key whose derivation runs
    in the HSM or KMS); its private part never leaves the server."""
    return kek.unwrapper(key.algorithm, key.recipient, key.private_ref)


def rewrap(engine: Engine, project: str, name: str, header: bytes, actor: str, append: Append) -> dict[str, Any]:
    """An age header re-wrapped for the key's newest version: the stanza an older version opens is replaced, the
    other stanzas kept, the header MAC recomputed; the file key never leaves the server. Logged."""
    import io

    versions = keys(engine, project, name)
    try:
        stanzas, macked, mac = age.read_header(io.BytesIO(header))
    except AssayError as exc:
        raise InputError("bad-rewrap-request", f"the header does not parse: {exc.message}") from None
    for k in versions:
        ident = _identity(k)
        for i, st in enumerate(stanzas):
            file_key = ident.unwrap([st])
            if file_key is None:
                continue
            if not age.header_mac_ok(file_key, macked, mac):
                raise VerificationError("header-mac-mismatch", "the age header MAC does not match (tampered header)")
            newest = versions[0]
            fresh = kek.wrapper(newest.algorithm, newest.recipient).wrap(file_key)
            out = age.encode_header([*stanzas[:i], fresh, *stanzas[i + 1 :]], file_key)
            statement = rfc8785.dumps({
                "_type": "https://assay.dev/broker-rewrap/v1", "project": project, "key": name,
                "fromVersion": k.version, "toVersion": newest.version, "requester": actor,
                "headerDigest": "sha256:" + hashlib.sha256(header).hexdigest(), "time": int(time.time()),
            })  # fmt: skip
            index, _ = append(statement)
            return {"header": base64.b64encode(out).decode(), "fromVersion": k.version,
                    "toVersion": newest.version, "logIndex": index}  # fmt: skip
    raise InputError("stanza-not-for-key", f"no stanza of the header is wrapped to {project}/{name}")


def unwrap(
    engine: Engine,
    project: str,
    name: str,
    request: dict[str, Any],
    claims: dict[str, Any] | None,
    evidence_error: AssayError | None,
    principal: str,
    append: Append,
    platform: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Decide, log, and (when granted) release the file key as a JWE to the request's ephemeral key.

    ``claims`` are the verified token's claims, or None with ``evidence_error`` saying why it did not verify;
    ``platform`` is verified attester-signed evidence (``{"signer", "predicateType", "claims"}``), which must
    name this request's nonce (``attestation-not-fresh``) so a recorded statement cannot be replayed.
    """
    now = time.time()
    with engine.connect() as conn:  # one connection for both reads (the policy is read fresh every time)
        versions = keys(engine, project, name, conn)
        current = current_policy(engine, project, name, conn)
    stanza = _stanza(request.get("stanza"))
    ephemeral = _ephemeral(request.get("ephemeralKey"))
    stamp = request.get("timestamp")
    if not isinstance(stamp, int | float) or abs(now - stamp) > REQUEST_SKEW:
        raise InputError("stale-request", f"the request's timestamp is more than {REQUEST_SKEW}s from the server's")
    claim = _nonce_claim(project, name, request.get("nonce"), now)
    evidence: dict[str, Any] = request["evidence"] if isinstance(request.get("evidence"), dict) else {}
    token = str(evidence.get("token") or "")
    seen = token + (rfc8785.dumps(evidence["attestation"]).decode() if evidence.get("attestation") else "")
    record: dict[str, Any] = {
        "_type": STATEMENT_TYPE, "project": project, "key": name, "keyVersion": versions[0].version,
        "policyVersion": current[0] if current else None,
        "policyDigest": ("sha256:" + hashlib.sha256(current[1]).hexdigest()) if current else None,
        "requester": principal,
        "identity": {"iss": claims.get("iss"), "sub": claims.get("sub")} if claims else None,
        "attester": platform.get("signer") if platform else None,
        "evidenceDigest": "sha256:" + hashlib.sha256(seen.encode()).hexdigest(),
        "time": int(now),
    }  # fmt: skip
    refusal: Refused | None = None
    if evidence_error is not None:
        refusal = Refused(evidence_error.reason, f"the platform evidence does not verify: {evidence_error.message}")
    elif platform is not None and (platform.get("claims") or {}).get("nonce") != request.get("nonce"):
        refusal = Refused("attestation-not-fresh", "the platform evidence does not name this request's nonce")
    elif current is None:
        refusal = Refused("no-decryption-policy", f"key {project}/{name} has no decryption policy")
    else:
        decision = policies.parse_cached(current[1]).decide(claims or {}, now, platform)
        if decision.granted:
            record["rule"] = decision.rule
        else:
            refusal = Refused(decision.code(), f"decryption policy v{current[0]} refuses: {decision.reason()}")
            refusal.rules = tuple(decision.failed_rules())
            record["failedRules"] = list(refusal.rules)
    file_key = None
    if refusal is None:
        for k in versions:
            file_key = _identity(k).unwrap([stanza])
            if file_key is not None:
                record["keyVersion"] = k.version
                break
        if file_key is None:
            refusal = Refused("stanza-not-for-key", f"the wrapped key is not wrapped to {project}/{name}")
    record["decision"] = "refused" if refusal else "granted"
    if refusal:
        record["reason"] = refusal.reason
        record["message"] = refusal.message
    statement = rfc8785.dumps(record)
    row = {"project": project, "key_name": name, "decision": record["decision"], "statement": statement.decode(),
           "created": _now_ms()}  # fmt: skip

    def keep(conn: Connection, index: int) -> None:
        conn.execute(insert(broker_releases).values(**row, log_index=index))

    try:  # one transaction, one commit: the nonce, the log entry and the release row
        index, _ = append(statement, claim=claim, record=keep)
    except IntegrityError:
        raise InputError("replayed-request", "this unwrap request (nonce) was already used") from None
    if refusal:
        refusal.message += f" (logged at index {index})"
        raise refusal
    assert file_key is not None
    return {"jwe": jwe.encrypt(file_key, [ephemeral]).decode(), "logIndex": index, "keyVersion": record["keyVersion"]}


def releases(engine: Engine, project: str, name: str, limit: int = 1000) -> list[dict[str, Any]]:
    """The release records of a key, oldest first."""
    keys(engine, project, name)
    with engine.connect() as conn:
        rows = conn.execute(
            select(broker_releases)
            .where(broker_releases.c.project == project, broker_releases.c.key_name == name)
            .order_by(broker_releases.c.id).limit(limit)
        ).all()  # fmt: skip
    return [
        {
            "logIndex": r.log_index,
            "decision": r.decision,
            "statement": json.loads(r.statement),
            "statementBase64": base64.b64encode(r.statement.encode()).decode(),
        }
        for r in rows
    ]
