"""Reading identity claims out of Fulcio certificates (OID arc 1.3.6.1.4.1.57264.1)."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

ARC = "1.3.6.1.4.1.57264.1."
OTHERNAME_SAN = ObjectIdentifier(ARC + "7")

# Claim names exposed in JSON output and accepted by --certificate-extension.
CLAIMS: dict[int, str] = {
    1: "oidcIssuerV1",
    2: "githubWorkflowTrigger",
    3: "githubWorkflowSha",
    4: "githubWorkflowName",
    5: "githubWorkflowRepository",
    6: "githubWorkflowRef",
    8: "issuer",
    9: "buildSignerURI",
    10: "buildSignerDigest",
    11: "runnerEnvironment",
    12: "sourceRepositoryURI",
    13: "sourceRepositoryDigest",
    14: "sourceRepositoryRef",
    15: "sourceRepositoryIdentifier",
    16: "sourceRepositoryOwnerURI",
    17: "sourceRepositoryOwnerIdentifier",
    18: "buildConfigURI",
    19: "buildConfigDigest",
    20: "buildTrigger",
    21: "runInvocationURI",
    22: "sourceRepositoryVisibilityAtSigning",
    23: "deploymentEnvironment",
    24: "tokenSubject",
}
DEPRECATED_RAW = {1, 2, 3, 4, 5, 6}  # values are raw bytes, not DER strings
CLAIM_OIDS = {name: ARC + str(n) for n, name in CLAIMS.items()}


def der_string(data: bytes) -> str | None:
    """Decode one DER UTF8String/IA5String/PrintableString; None when it is not one."""
    if len(data) < 2 or data[0] not in (0x0C, 0x16, 0x13):
        return None
    length = data[1]
    offset = 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or len(data) < 2 + n:
            return None
        length = int.from_bytes(data[2 : 2 + n], "big")
        offset = 2 + n
    if offset + length != len(data):
        return None
    try:
        return data[offset:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _san(cert: x509.Certificate) -> tuple[str | None, str | None]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None, None
    for kind, cls in (("email", x509.RFC822Name), ("uri", x509.UniformResourceIdentifier)):
        values = san.get_values_for_type(cls)
        if values:
            return str(values[0]), kind
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id == OTHERNAME_SAN:
            return der_string(other.value), "otherName"
    return None, None


def claims(cert: x509.Certificate) -> dict[str, str]:
    """All Fulcio claims in the certificate, by name; ``subject`` is the SAN identity."""
    out: dict[str, str] = {}
    subject, kind = _san(cert)
    if subject is not None:
        out["subject"] = subject
        out["subjectType"] = kind or ""
    for ext in cert.extensions:
        dotted = ext.oid.dotted_string
        if not dotted.startswith(ARC):
            continue
        suffix = dotted[len(ARC) :]
        if not (suffix.isascii() and suffix.isdigit()) or int(suffix) not in CLAIMS:
            continue
        n = int(suffix)
        raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
        value = raw.decode("utf-8", "replace") if n in DEPRECATED_RAW else der_string(raw)
        if value is not None:
            out[CLAIMS[n]] = value
    if "issuer" not in out and "oidcIssuerV1" in out:
        out["issuer"] = out["oidcIssuerV1"]
    return out
