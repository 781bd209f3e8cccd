"""Helpers for layout tests: real keys, signed layouts and links held in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from securesystemslib.signer import CryptoSigner

from assay.layout import envelope
from assay.layout.envelope import SignedDoc, parse_signed
from assay.layout.model import Link

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@dataclass
class Party:
    """A key holder: its securesystemslib signer and layout key entry."""

    signer: Any

    @property
    def keyid(self) -> str:
        return str(self.signer.public_key.keyid)

    @property
    def key(self) -> dict[str, Any]:
        return envelope.key_dict(self.signer.public_key)


def party(kind: str = "ecdsa") -> Party:
    """A fresh key pair."""
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ecdsa" else ed25519.Ed25519PrivateKey.generate()
    return Party(CryptoSigner(key))


@dataclass
class MemStore:
    """A links directory in memory: name -> signed bytes, with sublayout directories."""

    files: dict[str, bytes] = field(default_factory=dict)
    subs: dict[str, MemStore] = field(default_factory=dict)

    def links(self) -> list[tuple[str, SignedDoc]]:
        return [(n, parse_signed(b, n)) for n, b in sorted(self.files.items())]

    def sub(self, name: str) -> MemStore:
        return self.subs.setdefault(name, MemStore())

    def add_link(self, who: Party, link: Link, *, dsse: bool = False) -> str:
        import json

        doc = (envelope.sign_dsse if dsse else envelope.sign_metablock)([who.signer], link.to_dict())
        name = f"{link.name}.{who.keyid[:8]}.link"
        self.files[name] = json.dumps(doc).encode()
        return name


def layout_doc(
    steps: list[dict[str, Any]], parties: list[Party], expires: str = "2030-01-01T00:00:00Z", **extra: Any
) -> dict[str, Any]:
    """An in-toto layout document."""
    return {
        "_type": "layout",
        "expires": expires,
        "readme": "",
        "keys": {p.keyid: p.key for p in parties},
        "steps": [{"_type": "step", "threshold": 1, "expected_command": [], **s} for s in steps],
        "inspect": extra.get("inspect", []),
    }


def signed_layout(doc: dict[str, Any], *owners: Party) -> SignedDoc:
    """A layout Metablock signed by every owner, parsed back."""
    import json

    return parse_signed(json.dumps(envelope.sign_metablock([o.signer for o in owners], doc)).encode(), "root.layout")


def digest(ch: str) -> dict[str, str]:
    """A fake but well-formed sha256 digest."""
    return {"sha256": ch * 64}


@pytest.fixture
def owner() -> Party:
    return party()


@pytest.fixture
def alice() -> Party:
    return party()


@pytest.fixture
def bob() -> Party:
    return party("ed25519")
