"""Which files of a release directory are checksum lists and which sign them (pure: file names in).

Checksum lists are named as release tools name them (``SHA256SUMS``, ``checksums.txt``, ``*_checksums.txt``,
``*.sha256``); a list is signed by a Sigstore bundle beside it (``F.sigstore.json``, ``F.sigstore``,
``F.bundle``) or by cosign's detached ``F.sig`` with an optional ``F.pem`` certificate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SUMS = re.compile(r"(?i)^(sha256sums(\.txt)?|checksums(\.txt)?|.*[._-]checksums(\.txt)?|.*\.sha256(sum)?)$")
BUNDLE_SUFFIXES = (".sigstore.json", ".sigstore", ".bundle")
_NOT_ARTIFACTS = (*BUNDLE_SUFFIXES, ".sig", ".pem", ".asc", ".intoto.jsonl")


@dataclass(frozen=True)
class SignedList:
    """A checksum list and what signs it (names relative to the release directory)."""

    name: str
    bundle: str | None
    signature: str | None
    certificate: str | None


def plan(names: list[str]) -> tuple[list[SignedList], list[str]]:
    """(checksum lists with their signature files, artifacts: every other file that is not signature material)."""
    present = set(names)
    lists: list[SignedList] = []
    for n in sorted(names):
        if not _SUMS.match(n.rsplit("/", 1)[-1]):
            continue
        bundle = next((n + s for s in BUNDLE_SUFFIXES if n + s in present), None)
        sig = n + ".sig" if n + ".sig" in present else None
        cert = n + ".pem" if n + ".pem" in present else None
        lists.append(SignedList(n, bundle, sig, cert))
    listed = {x.name for x in lists}
    artifacts = [n for n in sorted(names) if n not in listed and not n.endswith(_NOT_ARTIFACTS)]
    return lists, artifacts
