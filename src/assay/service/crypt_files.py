"""Use cases for encrypted files: open paths, stream through the age codec, publish the output atomically."""

from __future__ import annotations

from collections.abc import Sequence

from assay.crypt import age, p256
from assay.errors import InputError
from assay.service.io import atomic_sink, open_source, read_file


def _recipient(value: str) -> age.Wrapper:
    if value.startswith("broker:"):
        from assay.service import broker

        return broker.recipient(value)
    return p256.any_recipient(value)


def parse_recipients(values: Sequence[str], files: Sequence[str] = ()) -> list[age.Wrapper]:
    """age recipients (X25519 ``age1…`` or P-256 ``age1yubikey1…``) from ``--recipient`` strings and recipient files (one a line, ``#`` comments)."""
    out = [_recipient(v) for v in values]
    for f in files:
        text = read_file(f, "recipients file").decode(errors="replace")
        out += [p256.any_recipient(ln) for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not out:
        raise InputError("no-recipients", "give at least one --recipient age1… or broker:URL/PROJECT/KEY")
    return out


def load_identities(paths: Sequence[str], broker: age.Unwrapper | None = None) -> list[age.Unwrapper]:
    """Identities from identity files (as ``age-keygen`` writes them), then the key broker if one is given."""
    if not paths and broker is None:
        raise InputError("no-identity", "give --identity FILE or --broker broker:URL/PROJECT/KEY")
    out: list[age.Unwrapper] = []
    for p in paths:
        out += age.parse_identities(read_file(p, "identity file").decode(errors="replace"))
    if broker is not None:
        out.append(broker)
    return out


def encrypt_file(path: str, out: str, recipients: Sequence[age.Wrapper]) -> int:
    """Encrypt ``path`` to ``out`` in the age format; returns the plaintext size."""
    with open_source(path) as src, atomic_sink(out) as sink:
        return age.encrypt(src, sink, recipients)


def decrypt_file(path: str, out: str, identities: Sequence[age.Unwrapper]) -> int:
    """Decrypt an age file to ``out``; ``out`` appears only after the final chunk authenticated (mode 0600)."""
    with open_source(path) as src, atomic_sink(out, 0o600) as sink:
        return age.decrypt(src, sink, identities)
