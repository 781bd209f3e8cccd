"""Kubernetes admission control: AdmissionReview -> workload images -> policy decisions -> JSONPatch.

Owns: the policy set a webhook serves (files or a directory, namespace
matching, exclusions, reload keeping the last good set), the decision for one
request (``engine``), the verdict cache (in memory or Redis) with request
coalescing, per-registry limits and back-off, the HTTPS webhook (``webhook``),
the manifests ``assay admission install`` prints, and the offline decision on
manifest files (``offline``).
May import: ``formats``, ``policy``, ``oci``, ``service``, ``errors``; never
``cli`` or ``server``.
Invariants: fail closed — an image no policy matches is denied unless a
policy of the namespace says ``allow-unmatched``; a verification that cannot
finish in time is denied unless its policy says ``failurePolicy: fail-open``;
a validating response never carries a patch; a pinned digest is the digest
that was verified; dry-run requests never write the cache.
"""
