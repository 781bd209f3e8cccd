"""Typed models of proposed log entries (pydantic), with the per-request limits the log enforces.

A proposal is parsed once, at the edge: the raw body goes through the shared strict
JSON loader (depth, size, lone surrogates), then one of these strict models. Digests
must match ``^[0-9a-f]{64}$`` exactly as Rekor's schema says — no whitespace, no
upper case — so one artifact has one canonical body and duplicates stay detectable.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from assay.errors import InputError
from assay.formats import safejson

MAX_DSSE_SIGNATURES = 8  # signatures per DSSE envelope
MAX_DSSE_VERIFIERS = 8  # verifier keys/certificates per DSSE entry
MAX_VERIFIER_CHARS = 16 * 1024  # one base64 PEM certificate or key
MAX_SIGNATURE_CHARS = 8 * 1024  # one base64 signature (RSA-16384 is ~2.7 KB)
MAX_ENVELOPE_CHARS = 4 * 1024 * 1024
MAX_DEPTH = 16  # Rekor proposals nest 5 levels; the DSSE envelope 3

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def _sha256_hex(value: str) -> str:
    if not _SHA256_HEX.fullmatch(value):
        raise ValueError("must be 64 lower-case hex digits (^[0-9a-f]{64}$)")
    return value


Sha256Hex = Annotated[str, AfterValidator(_sha256_hex), Field(json_schema_extra={"pattern": "^[0-9a-f]{64}$"})]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class HashValue(_Strict):
    """``{"algorithm": "sha256", "value": "<hex>"}``."""

    algorithm: Literal["sha256"]
    value: Sha256Hex


class HashedRekordData(_Strict):
    """What was signed: the artifact's digest."""

    hash: HashValue


class KeyContent(_Strict):
    """A base64 PEM key or certificate."""

    content: str = Field(max_length=MAX_VERIFIER_CHARS)


class HashedRekordSignature(_Strict):
    """The signature and its verifier."""

    content: str = Field(max_length=MAX_SIGNATURE_CHARS)
    publicKey: KeyContent


class HashedRekordSpec(_Strict):
    """``spec`` of a hashedrekord 0.0.1 proposal."""

    data: HashedRekordData
    signature: HashedRekordSignature


class HashedRekordProposal(_Strict):
    """A proposed hashedrekord 0.0.1 entry."""

    apiVersion: Literal["0.0.1"]
    kind: Literal["hashedrekord"]
    spec: HashedRekordSpec


class DsseContent(_Strict):
    """The envelope (as a JSON string, as Rekor takes it) and the keys that may have signed it."""

    envelope: str = Field(min_length=2, max_length=MAX_ENVELOPE_CHARS)
    verifiers: list[Annotated[str, Field(max_length=MAX_VERIFIER_CHARS)]] = Field(
        min_length=1, max_length=MAX_DSSE_VERIFIERS
    )


class DsseSpec(_Strict):
    """``spec`` of a dsse 0.0.1 proposal."""

    proposedContent: DsseContent


class DsseProposal(_Strict):
    """A proposed dsse 0.0.1 entry."""

    apiVersion: Literal["0.0.1"]
    kind: Literal["dsse"]
    spec: DsseSpec


class EnvelopeSignature(_Strict):
    """One DSSE signature; ``keyid`` is an unauthenticated hint."""

    sig: str = Field(max_length=MAX_SIGNATURE_CHARS)
    keyid: str | None = Field(default=None, max_length=1024)


class EnvelopeModel(_Strict):
    """A DSSE envelope inside a dsse proposal."""

    payload: str
    payloadType: str = Field(min_length=1, max_length=1024)
    signatures: list[EnvelopeSignature] = Field(min_length=1, max_length=MAX_DSSE_SIGNATURES)


def validation_message(exc: ValidationError) -> tuple[str, str]:
    """(error type, ``where: what``) of the first problem pydantic found."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "entry"
    return str(first.get("type", "")), f"{where}: {first.get('msg', 'invalid')}"


def _model(model: type[_Strict], doc: object, what: str) -> Any:
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        kind, message = validation_message(exc)
        if kind == "too_long" and message.startswith("signatures:"):
            raise InputError("entry-too-many-signatures", f"{what}: {message}", step="entry") from None
        if kind == "too_long" and message.startswith("spec.proposedContent.verifiers:"):
            raise InputError("entry-too-many-verifiers", f"{what}: {message}", step="entry") from None
        raise InputError("entry-malformed", f"{what}: {message}", step="entry") from None


def parse_proposal(raw: bytes | str) -> HashedRekordProposal | DsseProposal:
    """Parse a proposed entry's bytes into its typed model, or raise ``InputError`` with a reason."""
    doc = safejson.load_object(raw, what="entry", max_depth=MAX_DEPTH)
    kind, version = doc.get("kind"), doc.get("apiVersion")
    if (kind, version) == ("hashedrekord", "0.0.1"):
        return _model(HashedRekordProposal, doc, "hashedrekord")  # type: ignore[no-any-return]
    if (kind, version) == ("dsse", "0.0.1"):
        return _model(DsseProposal, doc, "dsse")  # type: ignore[no-any-return]
    raise InputError(
        "entry-kind-unsupported",
        f"entries of kind {str(kind)[:40]!r} version {str(version)[:20]!r} are not accepted "
        "(use hashedrekord or dsse 0.0.1)",
        step="entry",
    )


def parse_envelope(text: str) -> EnvelopeModel:
    """Parse the DSSE envelope a dsse proposal carries as a string."""
    doc = safejson.load_object(text, what="spec.proposedContent.envelope", max_depth=MAX_DEPTH)
    return _model(EnvelopeModel, doc, "envelope")  # type: ignore[no-any-return]
