"""Signing flows: produce Sigstore bundles for blobs and in-toto attestations.

Owns: turning an artifact digest (or message) plus a :class:`assay.crypto.signer.Signer`
into a bundle. May import: ``crypto``, ``formats``, ``errors`` (and, later,
``clients`` to talk to a log, CA or TSA). Invariants: never fabricates a
transparency-log entry or timestamp; a bundle only carries proofs a service
actually returned.
"""
