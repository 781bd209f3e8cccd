"""Data models and codecs with no I/O.

Owns: Sigstore bundles, DSSE envelopes and PAE, in-toto statements, checksums
files, and (as they arrive) trusted roots, checkpoints and log entry bodies.
May import: ``errors`` and the standard library/cryptography only; never files,
sockets or the CLI.
Invariants: parsers fail closed — unknown media types, missing required fields
and malformed encodings raise :class:`assay.errors.InputError` with a reason code.
"""
