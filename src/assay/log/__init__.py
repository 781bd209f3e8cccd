"""Transparency log service: sequencer, Merkle tree, proofs, checkpoints, tiles.

Owns: turning proposed Rekor entries into canonical bodies (after verifying
their signatures), sequencing them into an RFC 6962 tree with durable storage,
and producing inclusion/consistency proofs, signed entry timestamps and
signed-note checkpoints. May import: ``store``, ``crypto``, ``formats``,
``verify.merkle``, ``errors`` (and pydantic, for the typed proposals in
``proposals``). Invariants: a proposal's verification work is bounded (the
limits in ``proposals``); an entry is acknowledged only after its transaction
committed; identical proposals get one "created" answer, the rest "exists"; the tree only ever grows; every published
checkpoint is for a tree that extends all earlier ones.
"""
