"""RFC 3161 token checks: a well-formed token from a test TSA verifies; each defect is refused with its reason.

The tokens are built here with asn1crypto (a TSA root, a leaf with the critical timeStamping EKU, CMS SignedData
with signed attributes), then one part is changed per test. Real tokens (Sigstore's, GitHub's, a local test TSA)
run in the conformance and real-world suites.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from assay.errors import AssayError
from assay.formats.trustroot import CertificateAuthority, TrustedRoot, ValidFor
from assay.verify import timestamps

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
MESSAGE = b"the signature bytes"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    eku: list[x509.ObjectIdentifier] | None = None,
    eku_critical: bool = True,
    not_after: dt.datetime = NOW + dt.timedelta(days=365),
) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=365))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=eku_critical)
    return b.sign(issuer_key, hashes.SHA256())


@dataclass
class Tsa:
    root_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    eku: list[x509.ObjectIdentifier] | None = field(default_factory=lambda: [ExtendedKeyUsageOID.TIME_STAMPING])
    eku_critical: bool = True
    root_ca: bool = True
    leaf_not_after: dt.datetime = NOW + dt.timedelta(days=365)

    def __post_init__(self) -> None:
        self.root = _cert("root", self.root_key, "root", self.root_key, ca=self.root_ca)
        self.leaf = _cert(
            "tsa",
            self.key,
            "root",
            self.root_key,
            ca=False,
            eku=self.eku,
            eku_critical=self.eku_critical,
            not_after=self.leaf_not_after,
        )

    def trust(self) -> TrustedRoot:
        ca = CertificateAuthority((self.leaf, self.root), ValidFor(NOW - dt.timedelta(days=400), None))
        return TrustedRoot("application/vnd.dev.sigstore.trustedroot+json;version=0.1", timestamp_authorities=(ca,))


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


Edit = Callable[[dict[str, Any]], None]


def token(tsa: Tsa, message: bytes = MESSAGE, edit: Edit | None = None) -> bytes:
    """A TimeStampResp; ``edit`` may change any part in ``parts`` before it is assembled and signed."""
    parts: dict[str, Any] = {
        "status": "granted",
        "imprint": hashlib.sha256(message).digest(),
        "gen_time": NOW,
        "content_type": "tst_info",
        "attr_content_type": "tst_info",
        "digest_override": None,
        "certificates": [_der(tsa.leaf), _der(tsa.root)],
        "serial": tsa.leaf.serial_number,
        "signer_key": tsa.key,
        "signers": 1,
        "signed_attrs": True,
        "ess_hash": hashlib.sha256(_der(tsa.leaf)).digest(),
    }
    if edit is not None:
        edit(parts)
    tst = tsp.TSTInfo(
        {
            "version": "v1",
            "policy": "1.3.6.1.4.1.57264.2",
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "hashed_message": parts["imprint"],
            },
            "serial_number": 7,
            "gen_time": parts["gen_time"],
        }
    )
    tst_der = tst.dump()
    attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": [parts["attr_content_type"]]}),
            cms.CMSAttribute(
                {"type": "message_digest", "values": [parts["digest_override"] or hashlib.sha256(tst_der).digest()]}
            ),
            cms.CMSAttribute(
                {
                    "type": "signing_certificate_v2",
                    "values": [{"certs": [{"cert_hash": parts["ess_hash"]}]}],
                }
            ),
        ]
    )
    signed = attrs.dump()
    signed = b"\x31" + signed[1:]
    signature = parts["signer_key"].sign(signed, ec.ECDSA(hashes.SHA256()))
    issuer = ax509.Certificate.load(_der(tsa.leaf)).issuer
    info = {
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": {"issuer": issuer, "serial_number": parts["serial"]}}),
        "digest_algorithm": {"algorithm": "sha256"},
        "signature_algorithm": {"algorithm": "sha256_ecdsa"},
        "signature": signature,
    }
    if parts["signed_attrs"]:
        info["signed_attrs"] = attrs
    sd = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {
                "content_type": parts["content_type"],
                "content": core.ParsableOctetString(tst_der),
            },
            "certificates": [ax509.Certificate.load(c) for c in parts["certificates"]],
            "signer_infos": [cms.SignerInfo(info)] * parts["signers"],
        }
    )
    resp = tsp.TimeStampResp(
        {
            "status": {"status": parts["status"]},
            "time_stamp_token": cms.ContentInfo({"content_type": "signed_data", "content": sd}),
        }
    )
    return bytes(resp.dump())


def check(stamp: bytes, trust: TrustedRoot, message: bytes = MESSAGE) -> timestamps.VerifiedTime:
    return timestamps._verify_tsr_uncached(stamp, message, trust)


def reason(stamp: bytes, trust: TrustedRoot, message: bytes = MESSAGE) -> str:
    with pytest.raises(AssayError) as exc:
        check(stamp, trust, message)
    return exc.value.reason


def test_a_well_formed_token_verifies() -> None:
    tsa = Tsa()
    got = check(token(tsa), tsa.trust())
    assert got.source == "tsa" and got.time == NOW


def test_a_token_without_embedded_certificates_verifies() -> None:
    tsa = Tsa()
    check(token(tsa, edit=lambda p: p.update(certificates=[])), tsa.trust())


def test_another_message() -> None:
    tsa = Tsa()
    assert reason(token(tsa), tsa.trust(), b"another signature") == "timestamp-message-mismatch"


def test_another_tsa() -> None:
    assert reason(token(Tsa()), Tsa().trust()) == "timestamp-untrusted"


def test_garbage() -> None:
    assert reason(b"\x30\x03\x02\x01\x00", Tsa().trust()) == "timestamp-malformed"
    assert reason(b"not der", Tsa().trust()) == "timestamp-malformed"


def _edit(**changes: Any) -> Edit:
    return lambda p: p.update(changes)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(_edit(status="rejection"), id="status-not-granted"),
        pytest.param(_edit(attr_content_type="data"), id="signed-content-type"),
        pytest.param(_edit(digest_override=b"\x00" * 32), id="signed-message-digest"),
        pytest.param(_edit(signed_attrs=False), id="no-signed-attributes"),
        pytest.param(_edit(signers=2), id="two-signer-infos"),
        pytest.param(_edit(serial=12345), id="signer-is-not-the-leaf"),
        pytest.param(_edit(ess_hash=b"\x01" * 32), id="ess-names-another-certificate"),
        pytest.param(lambda p: p.update(signer_key=ec.generate_private_key(ec.SECP256R1())), id="forged-signature"),
    ],
)
def test_each_defect_is_refused(edit: Edit) -> None:
    tsa = Tsa()
    assert reason(token(tsa, edit=edit), tsa.trust()) == "timestamp-untrusted"


def test_tampered_tst_info_after_signing() -> None:
    tsa = Tsa()
    good = token(tsa)
    later = NOW.strftime("%Y%m%d%H%M%SZ").encode()
    moved = (NOW + dt.timedelta(hours=1)).strftime("%Y%m%d%H%M%SZ").encode()
    assert later in good
    assert reason(good.replace(later, moved), tsa.trust()) == "timestamp-untrusted"


def test_an_embedded_certificate_other_than_the_trusted_leaf() -> None:
    tsa = Tsa()
    other = Tsa()
    impostor = x509.load_der_x509_certificate(
        _cert("tsa", other.key, "root", tsa.root_key, ca=False, eku=[ExtendedKeyUsageOID.TIME_STAMPING]).public_bytes(
            serialization.Encoding.DER
        )
    )
    # Same issuer and serial as the trusted leaf, another key: the embedded copy must be the trusted one.
    forged = impostor_with_serial(impostor, tsa)
    stamp = token(tsa, edit=_edit(certificates=[_der(forged), _der(tsa.root)]))
    assert reason(stamp, tsa.trust()) == "timestamp-untrusted"


def impostor_with_serial(cert: x509.Certificate, tsa: Tsa) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(tsa.leaf.issuer)
        .public_key(cert.public_key())
        .serial_number(tsa.leaf.serial_number)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    return b.sign(tsa.root_key, hashes.SHA256())


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"eku": None}, id="leaf-without-eku"),
        pytest.param({"eku": [ExtendedKeyUsageOID.CODE_SIGNING]}, id="leaf-without-timestamping"),
        pytest.param({"eku_critical": False}, id="eku-not-critical"),
        pytest.param({"root_ca": False}, id="issuer-not-a-ca"),
        pytest.param({"leaf_not_after": NOW - dt.timedelta(days=1)}, id="leaf-expired-at-the-token-time"),
    ],
)
def test_each_chain_defect_is_refused(kwargs: dict[str, Any]) -> None:
    tsa = Tsa(**kwargs)
    assert reason(token(tsa), tsa.trust()) == "timestamp-untrusted"


def test_a_chain_whose_leaf_another_root_signed() -> None:
    tsa = Tsa()
    other = Tsa()
    ca = CertificateAuthority((tsa.leaf, other.root), ValidFor(NOW - dt.timedelta(days=400), None))
    trust = TrustedRoot("application/vnd.dev.sigstore.trustedroot+json;version=0.1", timestamp_authorities=(ca,))
    assert reason(token(tsa), trust) == "timestamp-untrusted"


def test_outside_the_tsa_validity_window() -> None:
    tsa = Tsa()
    ca = CertificateAuthority((tsa.leaf, tsa.root), ValidFor(NOW + dt.timedelta(days=1), None))
    trust = TrustedRoot("application/vnd.dev.sigstore.trustedroot+json;version=0.1", timestamp_authorities=(ca,))
    assert reason(token(tsa), trust) == "timestamp-untrusted"
