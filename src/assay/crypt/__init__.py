"""Artifact encryption: age-format files and ocicrypt-compatible image layers, as streaming codecs.

Owns: the age v1 file format (X25519 recipients, header MAC, STREAM payload in 64 KiB chunks), Bech32 key
strings, JWE (JSON serialization, A256GCM with RSA-OAEP and ECDH-ES+A256KW recipients) and the ocicrypt layer
cipher (AES-256-CTR + HMAC-SHA256) with its ``org.opencontainers.image.enc.*`` annotations.
May import: ``formats``, ``crypto``, ``errors``.
Invariants: codecs read from and write to file objects handed in, never open paths or sockets; no plaintext
leaves a decoder before the bytes it came from authenticated (age: per chunk, the final-chunk flag checked;
ocicrypt: the HMAC over the whole layer is checked before the last plaintext buffer is released).
"""
