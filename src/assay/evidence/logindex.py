"""The transparency log's search index (Rekor v1 ``/api/v1/index/retrieve``) and log DSSE entries as evidence."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from assay.errors import AssayError, InputError, VerificationError
from assay.evidence.parse import Item, parse_item
from assay.evidence.store import EvidenceStore
from assay.evidence.trust import Verdict, certificate_emails, key_fingerprint, verify_item
from assay.formats.bundle import MEDIA_TYPE_V03, Bundle, TlogEntry
from assay.store.schema import log_entries, log_search
from assay.store.txn import write_transaction

LOG_PROJECT = "tlog"  # the project DSSE entries of the server's own log are indexed under
MAX_QUERY = 1000


def _verifier_pems(body: dict[str, Any]) -> list[bytes]:
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    out = []
    if body.get("kind") == "hashedrekord":
        content = ((spec.get("signature") or {}).get("publicKey") or {}).get("content")
        if isinstance(content, str):
            out.append(base64.b64decode(content))
    elif body.get("kind") == "dsse":
        for s in spec.get("signatures") or []:
            if isinstance(s, dict) and isinstance(s.get("verifier"), str):
                out.append(base64.b64decode(s["verifier"]))
    return out


def search_keys(body_bytes: bytes, extra_hashes: Iterable[str] = ()) -> set[str]:
    """Index keys of a canonical entry body: ``sha256:HEX`` hashes, ``key:SPKI-SHA256``, ``email:ADDR``."""
    body = json.loads(body_bytes)
    spec = body.get("spec") or {}
    found: set[str] = set(h.lower() for h in extra_hashes)
    if body.get("kind") == "hashedrekord":
        h = ((spec.get("data") or {}).get("hash") or {}).get("value")
        if isinstance(h, str):
            found.add("sha256:" + h.lower())
    elif body.get("kind") == "dsse":
        for field in ("payloadHash", "envelopeHash"):
            h = (spec.get(field) or {}).get("value")
            if isinstance(h, str):
                found.add("sha256:" + h.lower())
    for pem in _verifier_pems(body):
        fp = key_fingerprint(pem)
        if fp:
            found.add("key:" + fp)
        found.update("email:" + e for e in certificate_emails(pem))
    return found


def index_entry(engine: Engine, idx: int, leaf_hash: bytes, keys: set[str]) -> None:
    """Add an entry's index keys (idempotent; another process indexing the same entry is not an error)."""
    try:
        with write_transaction(engine) as conn:
            have = {r[0] for r in conn.execute(select(log_search.c.key).where(log_search.c.leaf_hash == leaf_hash))}
            rows = [{"key": k[:320], "leaf_hash": leaf_hash, "idx": idx} for k in sorted(keys - have)]
            if rows:
                conn.execute(insert(log_search), rows)
    except IntegrityError:
        pass  # the same rows were committed by another server process meanwhile


def backfill(engine: Engine, batch: int = 5000) -> int:
    """Index log entries appended since the last indexed one (earlier versions, or a crash after append)."""
    done = 0
    while True:
        with engine.connect() as conn:
            last = conn.execute(select(func.coalesce(func.max(log_search.c.idx), -1))).scalar_one()
            rows = list(
                conn.execute(
                    select(log_entries.c.idx, log_entries.c.leaf_hash, log_entries.c.body)
                    .where(log_entries.c.idx > last)
                    .order_by(log_entries.c.idx)
                    .limit(batch)
                )
            )
        if not rows:
            return done
        for r in rows:
            index_entry(engine, r.idx, bytes(r.leaf_hash), search_keys(bytes(r.body)) or {"idx:" + str(r.idx)})
        done += len(rows)


def query_keys(doc: dict[str, Any]) -> tuple[list[str], str]:
    """The index keys a Rekor ``SearchIndex`` request asks for, and its operator (``and``/``or``)."""
    wanted: list[str] = []
    h = doc.get("hash")
    if h:
        if not isinstance(h, str):
            raise InputError("bad-search", "hash must be a string")
        alg, _, value = h.rpartition(":")
        if alg not in ("", "sha256") or len(value) != 64 or any(c not in "0123456789abcdefABCDEF" for c in value):
            raise InputError("bad-search", f"hash {h!r}: give sha256:HEX")
        wanted.append("sha256:" + value.lower())
    pk = doc.get("publicKey")
    if pk:
        if not isinstance(pk, dict):
            raise InputError("bad-search", "publicKey must be an object")
        fmt = pk.get("format")
        if fmt != "x509":
            raise InputError("unsupported-key-format", f"publicKey format {fmt!r} is not supported (use x509)")
        content = pk.get("content")
        if not isinstance(content, str):
            raise InputError("bad-search", "publicKey.content must be base64 text (publicKey.url is not supported)")
        try:
            raw = base64.b64decode(content, validate=True)
        except ValueError:
            raise InputError("bad-search", "publicKey.content is not base64") from None
        fp = key_fingerprint(raw)
        if fp is None:
            raise InputError("bad-search", "publicKey.content is not a PEM/DER public key or certificate")
        wanted.append("key:" + fp)
    email = doc.get("email")
    if email:
        if not isinstance(email, str) or "@" not in email or len(email) > 320 or not email.isprintable():
            raise InputError("bad-search", "email must be an address")
        wanted.append("email:" + email.lower())
    if not wanted:
        raise InputError("bad-search", "give at least one of hash, publicKey, email")
    op = doc.get("operator") or "and"
    if op not in ("and", "or"):
        raise InputError("bad-search", "operator must be 'and' or 'or'")
    return wanted, str(op)


def search(engine: Engine, wanted: list[str], operator: str) -> list[bytes]:
    """Leaf hashes of entries matching all (``and``) or any (``or``) of the keys, in log order."""
    with engine.connect() as conn:
        sets = []
        order: dict[bytes, int] = {}
        for k in wanted:
            rows = conn.execute(
                select(log_search.c.leaf_hash, log_search.c.idx).where(log_search.c.key == k).limit(MAX_QUERY)
            )
            s = set()
            for leaf, idx in rows:
                s.add(bytes(leaf))
                order[bytes(leaf)] = idx
            sets.append(s)
    result = set.intersection(*sets) if operator == "and" else set.union(*sets)
    return sorted(result, key=lambda leaf: order[leaf])


def log_bundle(entry: TlogEntry, proposal: dict[str, Any]) -> Item | None:
    """A logged DSSE entry as the Sigstore bundle a client would hold: envelope, verifier, the log's proof.

    The verifier is the one the log itself paired with every signature (the canonical body), never one
    the proposal merely lists. None when the entry is not an in-toto DSSE entry; an entry whose signatures
    were made under several different verifiers cannot be one bundle and raises ``tlog-multiple-verifiers``.
    """
    try:
        item = parse_item(str(proposal["spec"]["proposedContent"]["envelope"]).encode())
    except (KeyError, TypeError, InputError):
        return None
    if item.kind != "dsse" or item.envelope is None:
        return None
    body = json.loads(entry.canonicalized_body)
    verifiers = {s.get("verifier") for s in body.get("spec", {}).get("signatures", []) if isinstance(s, dict)}
    if len(verifiers) != 1:
        raise VerificationError(
            "tlog-multiple-verifiers",
            "the entry's signatures were made under several verifiers; a bundle carries one, so none is trusted",
        )
    pem = base64.b64decode(str(verifiers.pop()))
    certificates: tuple[bytes, ...] = ()
    if b"BEGIN CERTIFICATE" in pem:
        certificates = (x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER),)
    bundle = Bundle(
        media_type=MEDIA_TYPE_V03,
        version=(0, 3),
        certificates=certificates,
        tlog_entries=(entry,),
        dsse_envelope=item.envelope,
    )
    return parse_item(bundle.to_bytes())


def on_append(
    engine: Engine,
    store: EvidenceStore,
    idx: int,
    leaf_hash: bytes,
    body: bytes,
    proposal: Any,
    entry: TlogEntry | None,
) -> None:
    """Called after an entry was appended to the log: index it, and keep a DSSE entry as evidence.

    The entry becomes evidence of the ``tlog`` project as a bundle verified by :func:`verify_item` against
    that project's trust (the server's trusted root; keys and identities as configured), exactly as an
    upload of the same bundle would be; what does not meet that trust is kept unverified, with the reason.
    """
    extra: list[str] = []
    item: Item | None = None
    verdict: Verdict | None = None
    reason: str | None = None
    try:
        item = log_bundle(entry, proposal) if isinstance(proposal, dict) and entry is not None else None
        if item is not None:
            verdict = verify_item(item, store.trust(LOG_PROJECT))
    except AssayError as exc:
        reason = exc.reason
    if item is not None:
        extra = [d for d, _ in item.subjects]
        store.put(LOG_PROJECT, [(item, verdict, reason)], "transparency-log")
    # The body's own keys were written with the entry; the statement's subject digests are added here.
    index_entry(engine, idx, leaf_hash, search_keys(body, extra))
