"""Encryption commands: encrypt-blob, decrypt-blob (age format), encrypt, decrypt (ocicrypt image layers)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from assay.cli import output
from assay.cli.app import app

RecipientOpt = Annotated[Optional[list[str]], typer.Option("--recipient", "-r", help="age1… recipient (repeatable)")]


@app.command("encrypt-blob")
def encrypt_blob(
    file: Annotated[str, typer.Argument(help="file to encrypt, or - for stdin")],
    out: Annotated[str, typer.Option("--out", "-o", help="age file to write (- for stdout)")],
    recipient: RecipientOpt = None,
    recipients_file: Annotated[
        Optional[list[str]], typer.Option("--recipients-file", "-R", help="file of age1… recipients")
    ] = None,
) -> None:
    """Encrypt a file in the age v1 format to X25519 recipients, streamed in 64 KiB chunks."""
    from assay.service import crypt_files

    recips = crypt_files.parse_recipients(recipient or [], recipients_file or [])
    size = crypt_files.encrypt_file(file, out, recips)
    if out != "-":
        output.warn(f"encrypted {size} bytes for {len(recips)} recipient(s) to {out}")


@app.command("decrypt-blob")
def decrypt_blob(
    file: Annotated[str, typer.Argument(help="age file to decrypt, or - for stdin")],
    out: Annotated[str, typer.Option("--out", "-o", help="plaintext file to write (- for stdout)")],
    identity: Annotated[
        Optional[list[str]], typer.Option("--identity", "-i", help="age identity file (repeatable)")
    ] = None,
) -> None:
    """Decrypt an age v1 file; the output appears only once every chunk authenticated."""
    from assay.service import crypt_files

    idents = crypt_files.load_identities(identity or [])
    size = crypt_files.decrypt_file(file, out, idents)
    if out != "-":
        output.warn(f"decrypted {size} bytes to {out}")
