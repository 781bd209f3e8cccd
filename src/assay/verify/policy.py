"""What the caller expects of a bundle: the signing key or identity, and what must be present."""

from __future__ import annotations

from dataclasses import dataclass

from assay.crypto.keys import PublicKey
from assay.verify.identity import IdentityPolicy


@dataclass(frozen=True)
class Policy:
    """Verification expectations.

    ``key`` selects managed-key verification; otherwise an identity policy is
    required for certificate bundles. ``require_tlog`` demands a verified
    transparency-log entry. ``predicate_type`` (for DSSE bundles) pins the
    in-toto predicate type; ``expect_statement`` requires an in-toto statement.
    """

    key: PublicKey | None = None
    identity: IdentityPolicy | None = None
    require_tlog: bool = False
    predicate_type: str | None = None
    expect_statement: bool = False
