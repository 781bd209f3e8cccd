"""Typed request bodies (pydantic, strict), parsed once at the edge through the shared strict JSON loader.

Limits: ``retrieve`` takes at most 10 UUIDs and 10 indexes per request (as Rekor's
``SearchLogQuery``), and answers at most 10 entries per artifact hash; strings carry
length caps; integers are range-checked; no bool-for-int or string-for-int coercion.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from assay.errors import InputError
from assay.formats import safejson
from assay.log.proposals import validation_message

MAX_DEPTH = 16
MAX_RETRIEVE = 10  # entries per list in a retrieve request (Rekor's maxItems)
MAX_HASH_RESULTS = 10  # entries answered for one artifact hash
MAX_INDEX = 2**63 - 1
MAX_TOKEN_CHARS = 16 * 1024
MAX_KEY_CHARS = 16 * 1024

UUID_RE = re.compile(r"(?:[0-9a-f]{16})?[0-9a-f]{64}")
_HASH = re.compile(r"(?:sha256:)?[0-9a-f]{64}")


def _uuid(value: str) -> str:
    if not UUID_RE.fullmatch(value):
        raise ValueError("must be 64 lower-case hex digits, optionally after a 16-digit tree ID")
    return value


def _hash(value: str) -> str:
    if not _HASH.fullmatch(value):
        raise ValueError("must be sha256:<64 lower-case hex digits>")
    return value if value.startswith("sha256:") else "sha256:" + value


EntryUUID = Annotated[
    str, AfterValidator(_uuid), Field(json_schema_extra={"pattern": "^(?:[0-9a-f]{16})?[0-9a-f]{64}$"})
]
ArtifactHash = Annotated[str, AfterValidator(_hash), Field(json_schema_extra={"pattern": "^(?:sha256:)?[0-9a-f]{64}$"})]
LogIndex = Annotated[int, Field(ge=0, le=MAX_INDEX)]


class Body(BaseModel):
    """A strict request body; ``field_reasons`` names the reason code of a bad top-level field."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)
    field_reasons: ClassVar[dict[str, str]] = {}


class RetrieveRequest(Body):
    """``POST /api/v1/log/entries/retrieve``."""

    entryUUIDs: list[EntryUUID] = Field(default_factory=list, max_length=MAX_RETRIEVE)
    logIndexes: list[LogIndex] = Field(default_factory=list, max_length=MAX_RETRIEVE)
    hash: ArtifactHash | None = None
    field_reasons: ClassVar[dict[str, str]] = {
        "entryUUIDs": "bad-uuid",
        "logIndexes": "bad-index",
        "hash": "digest-malformed",
    }


class Credentials(Body):
    """Fulcio's ``credentials``."""

    oidcIdentityToken: str = Field(max_length=MAX_TOKEN_CHARS)


class PublicKey(Body):
    """Fulcio's ``publicKeyRequest.publicKey``."""

    content: str = Field(max_length=MAX_KEY_CHARS)
    algorithm: str | None = Field(default=None, max_length=64)


class PublicKeyRequest(Body):
    """A key and a signature over the token's subject by it."""

    publicKey: PublicKey
    proofOfPossession: str = Field(max_length=MAX_KEY_CHARS)


class SigningCertRequest(Body):
    """``POST /api/v2/signingCert`` (Fulcio v2)."""

    credentials: Credentials | None = None
    publicKeyRequest: PublicKeyRequest | None = None
    certificateSigningRequest: str | None = Field(default=None, max_length=MAX_KEY_CHARS)


class DevTokenRequest(Body):
    """``POST /dev/oidc/token`` (the --dev issuer; any claims, for tests)."""

    email: str = Field(default="dev@example.com", max_length=1024)
    emailVerified: bool = True
    audience: str = Field(default="sigstore", max_length=1024)
    issuedAt: int | None = Field(default=None, ge=0, le=2**40)
    expiresIn: int = Field(default=600, ge=1, le=7 * 24 * 3600)
    claims: dict[str, Any] = Field(default_factory=dict)
    repository: str = Field(default="example/project", max_length=1024)
    ref: str = Field(default="refs/heads/main", max_length=1024)
    workflow: str = Field(default=".github/workflows/release.yml", max_length=1024)


M = TypeVar("M", bound=Body)


def parse(model: type[M], body: bytes, what: str = "request") -> M:
    """Parse a request body into ``model``, or raise ``InputError`` with a reason code."""
    doc = safejson.load_object(body or b"{}", what=what, max_depth=MAX_DEPTH)
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        kind, message = validation_message(exc)
        first = exc.errors(include_url=False, include_input=False)[0]
        loc = first.get("loc", ())
        if kind == "too_long" and len(loc) == 1:
            raise InputError("too-many-items", f"{what}: {message}") from None
        reason = model.field_reasons.get(str(loc[0]) if loc else "", "request-invalid")
        raise InputError(reason, f"{what}: {message}") from None
