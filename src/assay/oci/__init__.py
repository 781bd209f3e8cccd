"""OCI images: references, registry client, image layout, signature/attestation storage and discovery.

Owns: everything about where images and their signatures live (issue 6).
So far: image reference parsing per the distribution reference grammar.
May import: ``formats``, ``crypto``, ``clients``, ``errors``.
Invariants: a digest reference is the only immutable name; tags are resolved
to digests before anything is signed or verified.
"""
