"""in-toto layouts and links: models, artifact rules, thresholds, sublayouts, reproducibility checks.

Owns: the in-toto legacy Metablock (link/layout) and the link predicate v0.3 models, the YAML layout form
(with source line numbers), artifact-rule evaluation with a full trace, the verification order of the
in-toto specification, and the comparison of rebuilt products.
May import: ``assay.errors``, ``assay.formats``, ``assay.crypto`` (keys, signers), ``assay.verify`` (keyless
bundle verification) and securesystemslib (canonical JSON, key ids, legacy signature schemes).
Invariants: pure — no file, process or network I/O; links, keys and inspection results are handed in by
``assay.service.layout``. Every failure is a ``VerificationError`` (exit 1) or ``InputError`` (exit 2) with a
stable reason code naming the step, the rule (with its source location) and the artifacts involved.
"""
