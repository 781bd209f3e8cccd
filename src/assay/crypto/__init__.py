"""Keys, signers and streaming digests.

Owns: key generation and (de)serialisation with file-permission checks, the
``Signer`` abstraction over file keys and securesystemslib signer URIs (HSM, KMS,
Vault), signature verification with public keys, and single-pass file hashing.
May import: ``errors`` and third-party crypto libraries only.
Invariants: private key material is never written with permissions wider than
0600 and never read from a file others can read; signing and verification use
the algorithm fixed by the key type, never one chosen by the input.
"""
