"""What a checklist check reports (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One unlocked dependency source: a reason code, where, and what was seen."""

    reason: str
    path: str
    evidence: str
