"""Certificate authority: OIDC identity → short-lived code-signing certificate with an embedded SCT.

Owns: verifying OIDC ID tokens from configured issuers (and the ``--dev``
issuer), mapping token claims to the certificate's SAN and Fulcio extensions
(OID arc 1.3.6.1.4.1.57264.1), proof of possession, issuing certificates via
the precertificate flow with an SCT from assay's CT log key, and the CA's own
root/intermediate. May import: ``crypto``, ``formats``, ``errors``.
Invariants: nothing is issued without a verified token and a verified proof of
possession; certificates live 10 minutes; extension values are DER UTF8Strings
(raw bytes for the deprecated .1.1–.1.6).
"""
