"""Recognising uploaded evidence and reading what it says about which digests (pure)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from assay.errors import InputError
from assay.formats import safejson
from assay.formats.bundle import Bundle, parse_bundle
from assay.formats.dsse import Envelope
from assay.formats.intoto import PAYLOAD_TYPE, parse_statement

LINK_PREDICATE = "https://in-toto.io/Link/v1"
MAX_ITEMS = 1000


@dataclass
class Item:
    """One piece of evidence: its exact bytes and what it claims (before verification)."""

    raw: bytes
    kind: str  # bundle | dsse | link
    doc: dict[str, Any]
    bundle: Bundle | None = None
    envelope: Envelope | None = None
    predicate_type: str | None = None
    subjects: list[tuple[str, str]] = field(default_factory=list)  # ("sha256:hex", name)
    statement: dict[str, Any] | None = None

    @property
    def digest(self) -> str:
        """sha256 hex of the exact bytes (the content address)."""
        return hashlib.sha256(self.raw).hexdigest()


def split(data: bytes) -> list[bytes]:
    """One document, or one per non-empty line of an ``.intoto.jsonl`` file."""
    text = data.strip()
    if not text:
        raise InputError("evidence-empty", "the upload is empty")
    try:
        safejson.loads(data, what="evidence")
        return [data]  # the exact bytes: their sha256 is the content address
    except InputError:
        lines = [ln.strip() for ln in data.splitlines() if ln.strip()]
        if len(lines) < 2:
            raise
    if len(lines) > MAX_ITEMS:
        raise InputError("evidence-too-many", f"at most {MAX_ITEMS} items per upload")
    return lines


# hex digits of each in-toto DigestSet algorithm with a fixed length (gitX: SHA-1 or SHA-256 object names)
DIGEST_HEX = {
    "sha1": (40,), "sha224": (56,), "sha256": (64,), "sha384": (96,), "sha512": (128,),
    "sha512_224": (56,), "sha512_256": (64,), "sha3_224": (56,), "sha3_256": (64,), "sha3_384": (96,),
    "sha3_512": (128,), "md5": (32,), "ripemd160": (40,), "sm3": (64,), "blake2b": (128,), "blake2s": (64,),
    "dirhash": (64,), "gitblob": (40, 64), "gitcommit": (40, 64), "gittag": (40, 64), "gittree": (40, 64),
}  # fmt: skip
MAX_DIGEST_HEX = 128
_ALG = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_HEX = re.compile(r"(?:[0-9a-f]{2})+")


def digest_key(alg: object, value: object) -> str | None:
    """``alg:hex`` for a well-formed DigestSet entry (lowercase hex of the algorithm's length), else None."""
    if not isinstance(alg, str) or not isinstance(value, str):
        return None
    a, v = alg.lower(), value.lower()
    if not _ALG.fullmatch(a) or not _HEX.fullmatch(v) or len(v) > MAX_DIGEST_HEX:
        return None
    if a in DIGEST_HEX and len(v) not in DIGEST_HEX[a]:
        return None
    return f"{a}:{v}"


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _printable(value: str, where: str, reason: str) -> None:
    """Names and types are text: no NUL (PostgreSQL refuses it in text) nor other control characters."""
    if _CONTROL.search(value):
        raise InputError(reason, f"{where} contains a control character")


def _subjects_of(digests: dict[str, Any], name: str, where: str) -> list[tuple[str, str]]:
    """Every digest of a subject; a malformed one (``sha256:abc``, ``sha256:../..``) refuses the item.

    A digest that is not hex of its algorithm's length can never match an artifact (``verify-blob`` answers
    ``subject-digest-mismatch`` for it), so evidence naming one is refused at parse (400
    ``subject-digest-invalid``), before verification, whether or not unverified evidence is accepted.
    """
    out = []
    for alg, value in digests.items():
        key = digest_key(alg, value)
        if key is None:
            shown = repr(value)[:80] if isinstance(value, str) else type(value).__name__
            raise InputError(
                "subject-digest-invalid",
                f"{where}: digest {str(alg)[:40]!r} = {shown} is not lowercase hex of that algorithm's length",
            )
        out.append((key, name))
    if not out:
        raise InputError("subject-no-digest", f"{where}: subject {name!r} has no digest")
    return out


def _statement_subjects(payload: bytes) -> tuple[dict[str, Any], str, list[tuple[str, str]]]:
    try:
        doc = safejson.load_object(payload, what="in-toto statement")
        raw_subjects = doc.get("subject")
        if isinstance(raw_subjects, list):
            for i, s in enumerate(raw_subjects):
                if isinstance(s, dict) and not s.get("digest"):
                    raise InputError("subject-no-digest", f"subject[{i}] has no digest")
        st = parse_statement(payload)
    except InputError as exc:
        raise InputError(exc.reason, f"statement: {exc.message}") from None
    _printable(st.predicate_type, "predicateType", "statement-malformed")
    subjects: list[tuple[str, str]] = []
    for i, s in enumerate(st.subjects):
        _printable(s.name, f"subject[{i}].name", "statement-malformed")
        subjects.extend(_subjects_of(s.digest, s.name, f"subject[{i}]"))
    return doc, st.predicate_type, subjects


def _from_envelope(item: Item, env: Envelope) -> None:
    item.envelope = env
    if env.payload_type != PAYLOAD_TYPE:
        raise InputError("unsupported-payload-type", f"DSSE payloadType {env.payload_type!r} is not in-toto")
    item.statement, item.predicate_type, item.subjects = _statement_subjects(env.payload)


def _link(item: Item) -> None:
    signed = item.doc.get("signed")
    sigs = item.doc.get("signatures")
    if not isinstance(signed, dict) or signed.get("_type") != "link":
        raise InputError("evidence-unrecognised", "a Metablock must hold a signed in-toto link")
    if not isinstance(sigs, list) or not sigs:
        raise InputError("link-no-signatures", "the link has no signatures")
    products = signed.get("products")
    if not isinstance(products, dict):
        raise InputError("link-malformed", "link products must be an object")
    for name, digests in products.items():
        _printable(str(name), f"product {str(name)[:60]!r}", "link-malformed")
        if not isinstance(digests, dict):
            raise InputError("link-malformed", f"product {name!r}: digests must be an object")
        item.subjects.extend(_subjects_of(digests, str(name), f"product {name!r}"))
    if not isinstance(signed.get("materials", {}), dict):
        raise InputError("link-malformed", "link materials must be an object")
    item.predicate_type = LINK_PREDICATE
    item.statement = {"predicateType": LINK_PREDICATE, "predicate": signed}
    if not item.subjects:
        raise InputError("subject-no-digest", "the link has no products with digests")


def parse_item(raw: bytes) -> Item:
    """Classify and parse one document; InputError with a reason for anything malformed."""
    doc = safejson.load_object(raw, what="evidence")
    if "mediaType" in doc and "verificationMaterial" in doc:
        bundle = parse_bundle(doc)
        item = Item(raw, "bundle", doc, bundle=bundle)
        if bundle.dsse_envelope is not None:
            _from_envelope(item, bundle.dsse_envelope)
        else:
            ms = bundle.message_signature
            if ms is None or ms.digest is None or (ms.digest_algorithm or "SHA2_256") != "SHA2_256":
                raise InputError("subject-no-digest", "the message-signature bundle names no SHA-256 digest")
            item.subjects = [(f"sha256:{ms.digest.hex()}", "")]
        return item
    if "payloadType" in doc and "signatures" in doc:
        item = Item(raw, "dsse", doc)
        _from_envelope(item, Envelope.from_json(doc, "envelope"))
        return item
    if "signed" in doc and "signatures" in doc:
        item = Item(raw, "link", doc)
        _link(item)
        return item
    raise InputError("evidence-unrecognised", "not a Sigstore bundle, DSSE envelope or in-toto link")


def parse_upload(data: bytes) -> list[Item]:
    """Every item of an upload; the first malformed one fails the whole upload (line numbers for jsonl)."""
    parts = split(data)
    items = []
    for i, part in enumerate(parts):
        try:
            items.append(parse_item(part))
        except InputError as exc:
            where = f"line {i + 1}: " if len(parts) > 1 else ""
            raise InputError(exc.reason, where + exc.message) from None
    return items


def linked_digests(statement: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """(relation, "alg:hex", name) for materials, resolved dependencies and SBOM components with digests."""
    if not isinstance(statement, dict):
        return []
    pred = statement.get("predicate")
    out: list[tuple[str, str, str]] = []

    def add(relation: str, digests: object, name: object) -> None:
        if isinstance(digests, dict):
            for alg, v in digests.items():
                key = digest_key(alg, v)  # a malformed digest names nothing: no node for it
                if key is not None:
                    out.append((relation, key, str(name or "")[:2000]))

    if not isinstance(pred, dict):
        return out
    materials = pred.get("materials")
    if isinstance(materials, dict):  # in-toto link
        for name, d in materials.items():
            add("material", d, name)
    elif isinstance(materials, list):  # SLSA v0.2
        for m in materials:
            if isinstance(m, dict):
                add("material", m.get("digest"), m.get("uri"))
    build = pred.get("buildDefinition")
    if isinstance(build, dict):  # SLSA v1
        for dep in build.get("resolvedDependencies") or []:
            if isinstance(dep, dict):
                add("resolvedDependency", dep.get("digest"), dep.get("uri") or dep.get("name"))
    for comp in pred.get("components") or []:  # CycloneDX
        if isinstance(comp, dict):
            hashes = {_cdx_alg(h.get("alg")): h.get("content") for h in comp.get("hashes") or [] if isinstance(h, dict)}
            add("component", {k: v for k, v in hashes.items() if k}, comp.get("purl") or comp.get("name"))
    for pkg in pred.get("packages") or []:  # SPDX
        if isinstance(pkg, dict):
            sums = {
                str(c.get("algorithm", "")).lower(): c.get("checksumValue")
                for c in pkg.get("checksums") or []
                if isinstance(c, dict)
            }
            add("component", sums, pkg.get("name"))
    return out


def _cdx_alg(alg: object) -> str:
    return {"SHA-256": "sha256", "SHA-512": "sha512", "SHA-1": "sha1", "SHA-384": "sha384"}.get(str(alg), "")


def statement_json(payload: bytes) -> dict[str, Any] | None:
    """A decoded statement, or None."""
    try:
        doc = json.loads(payload)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None
