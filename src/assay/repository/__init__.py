"""The verified artifact repository: policy-gated publish, fetch, content-addressed blobs.

Owns: the blob directory (``<data-dir>/blobs``: streamed in through a
per-process temporary directory, fsynced and renamed into
``sha256/<ab>/<hex>``; never held whole in memory), the artifacts table,
the project's repository policy and the signed VSA stored beside each
published version. May import: ``evidence``, ``policy``, ``sign``,
``attest``, ``verify``, ``store``, ``formats``, ``crypto``, ``errors``.
Invariants: a version is immutable; only an artifact whose digest matches
what was streamed and that passes the policy is committed; a failed or
interrupted upload leaves no blob and no row (temporary directories of dead
processes are swept at start).
"""
