"""The evidence store: signed attestations verified on upload, indexed by subject digest, walked as a graph.

Owns: recognising what was uploaded (Sigstore bundles v0.1–v0.3, bare DSSE
envelopes, legacy in-toto link Metablocks, ``.intoto.jsonl`` files), verifying
each item against a project's trust (trusted root, keys, identities) through
:mod:`assay.verify`, the evidence tables (rows, subjects, bytes), the search
index of the server's own transparency log, retention of unverified evidence,
and the evidence graph. May import: ``store``, ``verify``, ``formats``,
``crypto``, ``log`` (entry bodies), ``errors``.
Invariants: an item is stored content-addressed by the sha256 of its exact
bytes, in one transaction with its subjects (nothing is half-stored);
unverified items are stored only when asked and are never returned by
queries for verified evidence; verified evidence is never deleted implicitly.
"""
