"""The CA: a root and an intermediate (generated on first start), issuing 10-minute leaf certificates."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from assay.ca import der, x509sign
from assay.ca.ct import CTLog, sct_list_extension
from assay.crypto import keys
from assay.crypto.signer import Signer

LEAF_LIFETIME = dt.timedelta(minutes=10)
CA_LIFETIME = dt.timedelta(days=3650)
FULCIO_ARC = "1.3.6.1.4.1.57264.1."
DEPRECATED_RAW = {1, 2, 3, 4, 5, 6}


def _name(cn: str, org: str = "assay") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def load_or_make(path: Path, make: Callable[[], x509.Certificate]) -> x509.Certificate:
    """The certificate stored at ``path``, creating it first if absent.

    Creation is atomic and first-writer-wins (hard link of a complete temporary
    file), so server workers starting together all end up with the same certificate.
    """
    if not path.exists():
        pem = make().public_bytes(serialization.Encoding.PEM)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(pem)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won; use its certificate
        finally:
            tmp.unlink(missing_ok=True)
    return x509.load_pem_x509_certificate(path.read_bytes())


def root_certificate(directory: Path, signer: Signer, name: str) -> x509.Certificate:
    """Load or create the self-signed ``<name>-root.pem`` in ``directory``."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    pub = signer.public_key

    def make() -> x509.Certificate:
        b = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{name}-root"))
            .issuer_name(_name(f"{name}-root"))
            .public_key(pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
        )
        return x509sign.sign(b, signer)

    return load_or_make(directory / f"{name}-root.pem", make)


def make_ca_pair(
    directory: Path, root_signer: Signer, issuing_signer: Signer, name: str, leaf_eku: x509.ObjectIdentifier | None
) -> tuple[x509.Certificate, x509.Certificate]:
    """Load or create ``<name>-root.pem`` and ``<name>-intermediate.pem`` in ``directory``."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    root = root_certificate(directory, root_signer, name)
    issuing_pub = issuing_signer.public_key

    def make_intermediate() -> x509.Certificate:
        b = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{name}-intermediate"))
            .issuer_name(root.subject)
            .public_key(issuing_pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(issuing_pub), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_signer.public_key), critical=False)
        )
        if leaf_eku is not None:
            b = b.add_extension(x509.ExtendedKeyUsage([leaf_eku]), critical=False)
        return x509sign.sign(b, root_signer)

    intermediate = load_or_make(directory / f"{name}-intermediate.pem", make_intermediate)
    if keys.spki_der(keys.supported_public(intermediate.public_key(), "intermediate")) != keys.spki_der(issuing_pub):
        raise RuntimeError(f"{name}-intermediate.pem does not match the configured issuing key")
    return root, intermediate


@dataclass(frozen=True)
class Identity:
    """What a verified token says about its holder, ready to put in a certificate."""

    san_kind: str  # "email" | "uri"
    san: str
    challenge: str  # the claim value a proof of possession signs
    extensions: tuple[tuple[int, str], ...]  # (Fulcio OID number, value)


class CertificateAuthority:
    """Issues leaf certificates with an embedded SCT."""

    def __init__(self, directory: Path, root_signer: Signer, issuing_signer: Signer, ct: CTLog) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.signer = issuing_signer
        self.ct = ct
        self.root, self.intermediate = make_ca_pair(
            directory, root_signer, issuing_signer, "fulcio", ExtendedKeyUsageOID.CODE_SIGNING
        )

    @property
    def chain(self) -> list[x509.Certificate]:
        """Issuing certificate first, root last."""
        return [self.intermediate, self.root]

    def issue(self, public_key: keys.PublicKey, identity: Identity) -> x509.Certificate:
        """A 10-minute code-signing certificate for ``identity`` with an embedded SCT."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        san: x509.GeneralName = (
            x509.RFC822Name(identity.san)
            if identity.san_kind == "email"
            else x509.UniformResourceIdentifier(identity.san)
        )
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + LEAF_LIFETIME)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.signer.public_key), critical=False)
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
        )
        for number, value in identity.extensions:
            raw = value.encode("utf-8") if number in DEPRECATED_RAW else der.utf8(value)
            b = b.add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier(FULCIO_ARC + str(number)), raw), critical=False
            )
        precert_tbs = x509sign.tbs_bytes(b, self.signer)
        sct = self.ct.sct(precert_tbs, self.intermediate)
        return x509sign.sign(b.add_extension(sct_list_extension([sct]), critical=False), self.signer)
