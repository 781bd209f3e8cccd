"""RFC 3161 timestamp authority.

Owns: answering TimeStampReq with a granted TimeStampResp whose token is a CMS
SignedData over a TSTInfo, signed by a TSA certificate (critical
id-kp-timeStamping EKU) chained to the TSA root; the TSA's own certificates.
May import: ``ca`` (certificate helpers), ``crypto``, ``errors``.
Invariants: the message imprint is copied verbatim; DER SETs are sorted so
strict parsers accept the token; malformed requests are refused, never signed.
"""
