"""Build-time attestations: SLSA provenance v1 generated from the CI environment and checked like
slsa-verifier, and SLSA verification summaries (VSA v1) recording what a verification established.

``provenance`` and ``vsa`` build and check predicates as pure functions over
plain data (environment mappings, statements, certificate claims); signing and
fetching stay in ``assay.service``.
"""
