"""Fulcio v2 client: exchange an ID token and a CSR for a certificate chain."""

from __future__ import annotations

import base64

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.clients.http import reject, request
from assay.errors import EnvironmentFailure


def signing_certificate(url: str, token: str, key: ec.EllipticCurvePrivateKey) -> list[x509.Certificate]:
    """Leaf first, then the CA chain."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    body = {"certificateSigningRequest": base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()}
    resp = request(
        "POST",
        url.rstrip("/") + "/api/v2/signingCert",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        retries=1,
    )
    if resp.status_code not in (200, 201):
        raise reject(resp, "signing certificate")
    try:
        pems = resp.json()["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        return [x509.load_pem_x509_certificate(p.encode()) for p in pems]
    except (KeyError, ValueError, TypeError):
        raise EnvironmentFailure("bad-ca-response", "the CA's answer holds no certificate chain") from None
