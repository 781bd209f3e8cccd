"""The trusted roots assay ships (Sigstore public good, GitHub's instance) and picking one offline.

A certificate bundle is checked against the shipped root whose certificate
authority issued the certificate: GitHub's Fulcio for attestations from
private repositories, public good otherwise. Nothing here touches the network.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from cryptography import x509

from assay.formats.bundle import Bundle
from assay.formats.trustroot import TrustedRoot, parse_trusted_root

SHIPPED = ("public-good", "github")


@lru_cache(maxsize=4)
def shipped_root(name: str) -> TrustedRoot:
    """A trusted root shipped under ``assay/data/NAME/trusted_root.json``."""
    return parse_trusted_root(files("assay").joinpath(f"data/{name}/trusted_root.json").read_bytes())


def public_good_root() -> TrustedRoot:
    """The Sigstore public-good trusted root shipped with assay (offline)."""
    return shipped_root("public-good")


def github_root() -> TrustedRoot:
    """GitHub's Sigstore trusted root (Fulcio and TSA at githubapp.com; no log, no CT) shipped with assay."""
    return shipped_root("github")


def issued_by(root: TrustedRoot, leaf: x509.Certificate) -> bool:
    """True when one of the root's CA certificates has the leaf's issuer name."""
    return any(c.subject == leaf.issuer for ca in root.certificate_authorities for c in ca.chain)


def shipped_root_for(bundle: Bundle) -> TrustedRoot:
    """The shipped root whose CA issued the bundle's certificate; public good for keys and unknown issuers."""
    if bundle.certificates:
        try:
            leaf = x509.load_der_x509_certificate(bundle.certificates[0])
        except ValueError:
            return public_good_root()  # the pipeline reports the malformed certificate
        for name in SHIPPED:
            root = shipped_root(name)
            if issued_by(root, leaf):
                return root
    return public_good_root()
