"""Building RFC 3161 responses with asn1crypto."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from pathlib import Path

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from assay.ca import x509sign
from assay.ca.authority import CA_LIFETIME, make_ca_pair
from assay.crypto.signer import Signer
from assay.errors import InputError

POLICY_OID = "1.3.6.1.4.1.57264.2"
HASH_LENGTHS = {"sha256": 32, "sha384": 48, "sha512": 64}


class TimestampAuthority:
    """Signs timestamps with a TSA leaf certificate chained to a TSA root."""

    def __init__(self, directory: Path, root_signer: Signer, signer: Signer) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.signer = signer
        self.root, intermediate = make_ca_pair(directory, root_signer, root_signer, "tsa", None)
        del intermediate  # the TSA chain is leaf -> root; the "intermediate" slot is unused
        self.leaf = self._leaf(directory / "tsa-leaf.pem", root_signer)
        self._leaf_asn1 = ax509.Certificate.load(self.leaf.public_bytes(serialization.Encoding.DER))
        self._root_asn1 = ax509.Certificate.load(self.root.public_bytes(serialization.Encoding.DER))
        self._leaf_hash = hashlib.sha256(self.leaf.public_bytes(serialization.Encoding.DER)).digest()

    @property
    def chain(self) -> list[x509.Certificate]:
        """TSA certificate first, root last."""
        return [self.leaf, self.root]

    def _leaf(self, path: Path, root_signer: Signer) -> x509.Certificate:
        if path.exists():
            return x509.load_pem_x509_certificate(path.read_bytes())
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        pub = self.signer.public_key
        b = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "assay"),
                        x509.NameAttribute(NameOID.COMMON_NAME, "tsa"),
                    ]
                )
            )
            .issuer_name(self.root.subject)
            .public_key(pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_signer.public_key), critical=False)
        )
        cert = x509sign.sign(b, root_signer)
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert

    def respond(self, request_der: bytes) -> bytes:
        """A DER TimeStampResp for a DER TimeStampReq."""
        try:
            req = tsp.TimeStampReq.load(request_der)
            imprint = req["message_imprint"]
            alg = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            nonce = req["nonce"].native
            cert_req = bool(req["cert_req"].native)
            _ = req["version"].native
        except (ValueError, TypeError, KeyError):
            raise InputError("timestamp-request-malformed", "not a DER TimeStampReq") from None
        if alg not in HASH_LENGTHS or not isinstance(digest, bytes) or len(digest) != HASH_LENGTHS[alg]:
            raise InputError("timestamp-request-malformed", f"unsupported or inconsistent message imprint ({alg})")
        now = dt.datetime.now(dt.UTC)
        info: dict[str, object] = {
            "version": "v1",
            "policy": POLICY_OID,
            "message_imprint": {"hash_algorithm": {"algorithm": alg}, "hashed_message": digest},
            "serial_number": secrets.randbits(63),
            "gen_time": now,
            "accuracy": {"seconds": 1},
            "ordering": False,
        }
        if nonce is not None:
            info["nonce"] = nonce
        tst_info = tsp.TSTInfo(info)
        econtent = tst_info.dump()
        attrs = [
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(econtent).digest()]}),
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": core.UTCTime(now)})]}),
            cms.CMSAttribute(
                {
                    "type": "signing_certificate_v2",
                    "values": [tsp.SigningCertificateV2({"certs": [{"cert_hash": self._leaf_hash}]})],
                }
            ),
        ]
        attrs.sort(key=lambda a: a.dump())  # DER SET OF: sorted by encoding
        signed_attrs = cms.CMSAttributes(attrs)
        signature = self.signer.sign_message(signed_attrs.dump())
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                            {"issuer": self._leaf_asn1.issuer, "serial_number": self._leaf_asn1.serial_number}
                        )
                    }
                ),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": signed_attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
                "signature": signature,
            }
        )
        certs = sorted([self._leaf_asn1, self._root_asn1], key=lambda c: c.dump()) if cert_req else []
        signed_data = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
                "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(econtent)},
                "certificates": [cms.CertificateChoices({"certificate": c}) for c in certs] if certs else None,
                "signer_infos": [signer_info],
            }
        )
        if not certs:
            del signed_data["certificates"]
        token = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
        reply: bytes = tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()
        return reply
