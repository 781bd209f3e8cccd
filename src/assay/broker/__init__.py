"""Key broker: key-encryption keys held by the server, versioned decryption policies, audited unwrap.

Owns: KEKs (X25519, so a broker recipient is an ordinary age X25519 stanza), decryption-policy documents and
their pure evaluation over verified OIDC workload-token claims (issuer, subject, audience, claims, CEL over
claims, time windows), the release statement every unwrap (granted or refused) appends to the transparency
log, replay nonces, and the release of a file key as a JWE to the caller's ephemeral key.
May import: ``policy`` (CEL), ``evidence`` (verifying signed policies), ``crypt``, ``store``, ``formats``,
``crypto``, ``errors``.
Invariants: a KEK's private part is read only to unwrap and never leaves the server; a key is released only
when the current policy version passes, never in the clear; each decision is logged before it is answered.
"""
