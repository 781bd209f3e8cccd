"""Building RFC 3161 responses with asn1crypto."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from pathlib import Path

from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from assay.ca import der, x509sign
from assay.ca.authority import CA_LIFETIME, load_or_make, root_certificate
from assay.crypto.signer import Signer
from assay.errors import InputError

POLICY_OID = "1.3.6.1.4.1.57264.2"
HASH_LENGTHS = {"sha256": 32, "sha384": 48, "sha512": 64}
MAX_REQUEST_BYTES = 64 * 1024


class TimestampAuthority:
    """Signs timestamps with a TSA leaf certificate chained to a TSA root."""

    def __init__(self, directory: Path, root_signer: Signer, signer: Signer) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.signer = signer
        self.root = root_certificate(directory, root_signer, "tsa")  # the TSA chain is leaf -> root
        self.leaf = self._leaf(directory / "tsa-leaf.pem", root_signer)
        self._leaf_asn1 = ax509.Certificate.load(self.leaf.public_bytes(serialization.Encoding.DER))
        self._root_asn1 = ax509.Certificate.load(self.root.public_bytes(serialization.Encoding.DER))
        self._leaf_hash = hashlib.sha256(self.leaf.public_bytes(serialization.Encoding.DER)).digest()

    @property
    def chain(self) -> list[x509.Certificate]:
        """TSA certificate first, root last."""
        return [self.leaf, self.root]

    def _leaf(self, path: Path, root_signer: Signer) -> x509.Certificate:
        return load_or_make(path, lambda: self._make_leaf(root_signer))

    def _make_leaf(self, root_signer: Signer) -> x509.Certificate:
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
        return x509sign.sign(b, root_signer)

    def _static_parts(self) -> None:
        """DER pieces that are the same in every response, encoded once."""
        sha256 = algos.DigestAlgorithm({"algorithm": "sha256"})
        self._sha256_algid = sha256.dump()
        self._ecdsa_algid = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}).dump()
        self._sid = cms.IssuerAndSerialNumber(
            {"issuer": self._leaf_asn1.issuer, "serial_number": self._leaf_asn1.serial_number}
        ).dump()
        certs = sorted([self._leaf_asn1.dump(), self._root_asn1.dump()])
        self._certs_field = der.tlv(0xA0, b"".join(certs))  # [0] IMPLICIT SET OF Certificate, DER-sorted
        self._attr_content_type = cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}).dump()
        self._attr_signing_cert = cms.CMSAttribute(
            {
                "type": "signing_certificate_v2",
                "values": [tsp.SigningCertificateV2({"certs": [{"cert_hash": self._leaf_hash}]})],
            }
        ).dump()

    def respond(self, request_der: bytes) -> bytes:
        """A DER TimeStampResp for a DER TimeStampReq."""
        if len(request_der) > MAX_REQUEST_BYTES:
            raise InputError(
                "timestamp-request-malformed", f"timestamp requests are limited to {MAX_REQUEST_BYTES} bytes"
            )
        try:
            req = tsp.TimeStampReq.load(request_der, strict=True)  # strict: no trailing bytes
            imprint = req["message_imprint"]
            alg = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            nonce = req["nonce"].native
            cert_req = bool(req["cert_req"].native)
            _ = req["version"].native
            # DER only: re-encoding the parsed request must give back the bytes sent, which refuses BER
            # indefinite lengths, non-minimal lengths, explicit DEFAULT values and trailing bytes.
            canonical = req.copy().dump(force=True)
        except (ValueError, TypeError, KeyError, OverflowError):
            raise InputError("timestamp-request-malformed", "not a DER TimeStampReq") from None
        if canonical != request_der:
            raise InputError("timestamp-request-not-der", "the TimeStampReq is not DER (BER or trailing bytes)")
        if alg not in HASH_LENGTHS or not isinstance(digest, bytes) or len(digest) != HASH_LENGTHS[alg]:
            raise InputError("timestamp-request-malformed", f"unsupported or inconsistent message imprint ({alg})")
        if not hasattr(self, "_sid"):
            self._static_parts()
        # whole seconds (accuracy is 1 s): sigstore-js reads a genTime with no fraction or exactly three digits only
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
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
        econtent: bytes = tsp.TSTInfo(info).dump()
        attributes = sorted(
            [
                self._attr_content_type,
                der.sequence(
                    der.tlv(0x06, bytes.fromhex("2a864886f70d010904")),
                    der.tlv(0x31, der.octet_string(hashlib.sha256(econtent).digest())),
                ),
                der.sequence(
                    der.tlv(0x06, bytes.fromhex("2a864886f70d010905")),
                    der.tlv(0x31, der.tlv(0x17, now.strftime("%y%m%d%H%M%SZ").encode())),
                ),
                self._attr_signing_cert,
            ]
        )  # DER SET OF: sorted by encoding
        attrs_content = b"".join(attributes)
        signature = self.signer.sign_message(der.tlv(0x31, attrs_content))  # signed as an explicit SET OF
        signer_info = der.sequence(
            der.tlv(0x02, b"\x01"),
            self._sid,
            self._sha256_algid,
            der.tlv(0xA0, attrs_content),  # [0] IMPLICIT
            self._ecdsa_algid,
            der.octet_string(signature),
        )
        encap = der.sequence(
            der.tlv(0x06, bytes.fromhex("2a864886f70d0109100104")), der.tlv(0xA0, der.octet_string(econtent))
        )
        signed_data = der.sequence(
            der.tlv(0x02, b"\x03"),
            der.tlv(0x31, self._sha256_algid),
            encap,
            self._certs_field if cert_req else b"",
            der.tlv(0x31, signer_info),
        )
        token = der.sequence(der.tlv(0x06, bytes.fromhex("2a864886f70d010702")), der.tlv(0xA0, signed_data))
        return der.sequence(der.sequence(der.tlv(0x02, b"\x00")), token)
