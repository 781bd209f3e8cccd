"""Transparency log service: sequencer, Merkle tree, proofs, checkpoints, tiles.

Owns: turning proposed Rekor entries into canonical bodies (after verifying
their signatures), sequencing them into an RFC 6962 tree with durable storage,
and producing inclusion/consistency proofs, signed entry timestamps and
signed-note checkpoints. May import: ``store``, ``crypto``, ``formats``,
``verify.merkle``, ``errors``. Invariants: an entry is acknowledged only after
its transaction committed; the tree only ever grows; every published
checkpoint is for a tree that extends all earlier ones.
"""
