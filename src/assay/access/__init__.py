"""Access control: projects, identities, roles, API tokens, sessions, the hash-chained audit log, rate limits.

Owns: THE permission table (``permissions.PERMISSIONS``: action -> minimum role), the
project tree and its role grants (a child inherits its ancestors' grants), API tokens
and sessions (only SHA-256 hashes of their secrets are stored), the audit chain
(each row's hash covers the previous row's hash) and its anchoring in the transparency
log, and in-process token-bucket rate limits.
May import: ``store`` and ``errors`` (the log append that anchors the chain is handed in by the server).
Invariants: every credential is issued as ``mint.mint`` decides (API tokens never mint API
tokens; nothing outranks or, when bound, outlives its maker); a token never carries more than its
creator's current role; a project always keeps at least one admin (``projects.keep_an_admin``, inside
every grant change's transaction); a project the caller may not read answers exactly as a missing one
(``gate.Access.authorize``); every audit row is appended under one database lock so the chain never
forks, across processes sharing PostgreSQL.
"""
