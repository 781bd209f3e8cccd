"""Minder-style profiles: entities a project watches, profiles of policy rules over them, the scheduler that
re-evaluates every (profile x entity), the history of results, and alerts on transitions.

Owns: ``model`` (what a profile and an entity are), ``parse`` (profile documents: schema, rules compiled with the
policy language's loader, CEL selectors, interval minimum — pure), ``records`` (entities, profiles and sinks in
the store), ``history`` (latest state and history rows; the query functions the dashboard reads), ``evaluate``
(one profile over one entity: tags rediscovered, each digest's materials gathered, rules decided), ``alerts``
(payloads, HMAC signatures, delivery with back-off and dead-lettering), ``scheduler`` (the leader-elected
background loop), ``query`` (the read API a dashboard uses: overview, profile and entity pages, timeline) and
``templates`` (``profile init artifact-security``).
May import: ``policy`` (rules, CEL, evaluation), ``service`` (image materials), ``evidence`` and ``repository``
(stored evidence and published artifacts), ``oci`` (tag lists), ``store`` (tables, leases), ``formats``,
``crypto``, ``errors``. Never ``server``, ``cli`` or ``web``.
Invariants: a document is fully checked before anything is written (no half-written profile); a registry or
evaluation failure is recorded as ``error``, never ``success``; an alert is queued once per transition of a
(profile, rule, entity target) and delivered by the scheduler's leader only.
"""
