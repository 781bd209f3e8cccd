"""Registry token service (distribution token auth): scopes -> permission table -> short-lived JWTs.

Owns: the scope grammar and the distribution repository-name grammar (``scope``), the pure decision of what a
caller is granted for each asked scope (``grant``: the intersection of asked and allowed, actions mapped onto
rows of THE permission table), the ``push: ci-only`` project rule and its match over verified CI ID-token
claims (``pushpolicy``), the JWT claims, libtrust key ids and signing (``token``), the signing key and its
self-signed certificate in the data directory and the registry's ``auth: token`` block (``signing``), the
I/O use case that authenticates, decides, mints and audits (``service``, through access's group-committed
audit writer), and the anonymous-capability check of a registry (``check``).
May import: ``access`` (credentials, permissions, mint, audit), ``ca`` (OIDC verification), ``store``,
``crypto``, ``errors``.
Invariants: a scope not allowed is left out of ``access``, never turned into a broader grant; every token is
decided by :func:`assay.access.mint.mint` and is never longer-lived than the credential that asked; every
issued token and every refused scope is appended to the audit chain before the answer is sent.
"""
