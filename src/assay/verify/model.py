"""Inputs and outputs of the verification pipeline (plain data, no I/O)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from assay.errors import VerificationError


@dataclass(frozen=True)
class Artifact:
    """What was signed: its digests, and the bytes when the caller has them.

    ``sha256`` is None when the caller knows the artifact only by another
    digest (``sha512:HEX``); ``digests`` holds the other algorithms computed in
    the same pass. The bytes are needed only for Ed25519 message signatures,
    which cover the message itself; everything else is checked against a digest.
    """

    sha256: bytes | None
    message: Any = None  # any buffer (bytes, mmap) at run time
    name: str | None = None
    digests: Mapping[str, bytes] = field(default_factory=dict)

    def digest(self, algorithm: str) -> bytes | None:
        """The artifact's digest in ``algorithm`` (sha256, sha384, sha512), or None when it is not known."""
        if algorithm == "sha256" and self.sha256 is not None:
            return self.sha256
        if algorithm in self.digests:
            return self.digests[algorithm]
        if self.message is not None and algorithm in ("sha256", "sha384", "sha512"):
            return hashlib.new(algorithm, self.message).digest()
        return None

    def known(self) -> list[str]:
        """Algorithms whose digest is available without reading the artifact again."""
        algs = (["sha256"] if self.sha256 is not None else []) + [a for a in self.digests if a != "sha256"]
        return algs


@dataclass
class StepRecord:
    """One pipeline step's outcome, for human and JSON output."""

    step: str
    status: str  # "pass" | "skip"
    detail: str = ""


@dataclass
class Result:
    """A successful verification: what was checked and what was learned."""

    steps: list[StepRecord] = field(default_factory=list)
    signer: dict[str, Any] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)
    tlog: list[dict[str, Any]] = field(default_factory=list)
    verified_times: list[dict[str, Any]] = field(default_factory=list)
    statement: Any = None
    predicate: Any = None  # the verified statement's predicate (not in the JSON summary)
    notes: list[str] = field(default_factory=list)
    decrypted_digest: str | None = None  # an encrypted image's checked plaintext manifest digest

    def record(self, step: str, detail: str = "", status: str = "pass") -> None:
        """Append a step outcome."""
        self.steps.append(StepRecord(step, status, detail))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary."""
        out: dict[str, Any] = {
            "verified": True,
            "steps": [
                {"step": s.step, "status": s.status, **({"detail": s.detail} if s.detail else {})} for s in self.steps
            ],
            "signer": self.signer,
            "tlog": self.tlog,
        }
        if self.claims:
            out["claims"] = self.claims
        if self.verified_times:
            out["verifiedTimes"] = self.verified_times
        if self.statement is not None:
            out["statement"] = self.statement
        if self.notes:
            out["notes"] = self.notes
        if self.decrypted_digest is not None:
            out["decryptedDigest"] = self.decrypted_digest
        return out


def fail(step: str, reason: str, message: str) -> VerificationError:
    """A verification failure attributed to a pipeline step."""
    return VerificationError(reason, message, step=step)


@dataclass(frozen=True)
class VerifiedTime:
    """A time some trusted party vouches the signature existed at."""

    source: str  # "tsa" | "tlog"
    time: datetime
    authority: str
