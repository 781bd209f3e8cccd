"""How a signature is made: a key or signer URI (logged when a server is given), or an identity token (keyless).

Kept apart from :mod:`assay.service.blob` so a command that only signs (``assay run``) does not load the
verification pipeline: the signing modules are imported by the method that signs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.crypto import signer as signers
from assay.errors import InputError
from assay.service.io import password

if TYPE_CHECKING:
    from assay.formats import intoto
    from assay.formats.bundle import Bundle


def _log(bundle: Bundle, signer: signers.Signer, server: str | None) -> Bundle:
    """Record the bundle's signature in the server's transparency log and carry the entry."""
    if not server:
        return bundle
    from dataclasses import replace

    from assay.clients.rekor import RekorClient
    from assay.crypto import keys
    from assay.log.entries import dsse_proposal, hashedrekord_proposal

    pem = keys.public_pem(signer.public_key)
    if bundle.message_signature is not None:
        assert bundle.message_signature.digest is not None
        proposal = hashedrekord_proposal(bundle.message_signature.signature, bundle.message_signature.digest, pem)
    else:
        assert bundle.dsse_envelope is not None
        proposal = dsse_proposal(bundle.dsse_envelope, pem)
    entry = RekorClient(server).create_entry(proposal)
    return replace(bundle, tlog_entries=(entry,))


def _keyless_server(key: str | None, token: str | None, server: str | None) -> str | None:
    """Check the key/token flags; returns the server for keyless signing, or None for key-based."""
    if key is not None and token is not None:
        raise InputError("usage", "give either --key (key-based) or --identity-token (keyless), not both")
    if key is None and token is None:
        raise InputError("usage", "give either --key (key-based) or --identity-token (keyless)")
    if token is not None:
        if not server:
            raise InputError("usage", "keyless signing needs --server (the CA, log and TSA)")
        return server
    return None


def ambient_token() -> str:
    """The CI system's identity token (:mod:`assay.sign.ambient`), saying on stderr which source gave it."""
    import sys

    from assay.sign import ambient

    found = ambient.detect()
    sys.stderr.write(f"using the identity token from {found.source}\n")
    return found.token


@dataclass(frozen=True)
class Credentials:
    """How to sign: a key or signer URI (logged when a server is given), or an identity token (keyless)."""

    signer: signers.Signer | None
    token: str | None
    server: str | None

    @classmethod
    def resolve(
        cls, key: str | None, token: str | None, server: str | None, password_file: str | None, *, ambient: bool = True
    ) -> Credentials:
        """Check the flags and load the key; keyless needs a server; with neither, the CI system's own token."""
        if key is None and token is None and ambient:
            token = ambient_token()
        if _keyless_server(key, token, server) is not None:
            return cls(None, token, server)
        assert key is not None
        return cls(signers.load(key, password(password_file)), None, server)

    @property
    def needs_message(self) -> bool:
        """True when the signer must see the whole artifact, not just its digest."""
        return self.signer is not None and not self.signer.signs_digests

    def sign_digest(self, digest: bytes, message: Any = None) -> Bundle:
        """A bundle with a message signature over the artifact."""
        if self.signer is None:
            from assay.sign import keyless

            assert self.token is not None and self.server is not None
            return keyless.sign_digest(self.server, self.token, digest)
        from assay.sign import blob as sign_blob_mod

        return _log(sign_blob_mod.sign_blob(self.signer, digest, message), self.signer, self.server)

    def sign_statement(self, statement: intoto.Statement) -> Bundle:
        """A bundle with a DSSE envelope over an in-toto statement."""
        if self.signer is None:
            from assay.sign import keyless

            assert self.token is not None and self.server is not None
            return keyless.sign_statement(self.server, self.token, statement)
        from assay.sign import blob as sign_blob_mod

        return _log(sign_blob_mod.sign_statement(self.signer, statement), self.signer, self.server)
