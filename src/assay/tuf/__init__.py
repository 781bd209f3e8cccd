"""TUF trust distribution on python-tuf: the server-side repository and the client.

Owns: the repository's roles, delegations, hash bins, rotation and online re-signing (repository modules), and
the client (:mod:`assay.tuf.client`, python-tuf's ``ngclient`` with offline mode and one reason code per attack).
May import: ``formats``, ``crypto``, ``store``, ``clients``, ``errors`` and python-tuf; never ``cli`` or ``server``.
Invariants: TUF metadata is only ever built and verified through python-tuf, never by hand.
"""
