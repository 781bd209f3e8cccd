"""moto's KMS server with the one call moto 5.2 lacks, ``DeriveSharedSecret`` (ECDH on a KEY_AGREEMENT key).

Run as a script: ``python kms_ecdh_server.py PORT``. Everything else (key creation, GetPublicKey, errors, request
signing as boto3 does it) is moto's; the added call works on the key material moto itself keeps for the key, with
AWS's checks: a KEY_AGREEMENT key, the ``ECDH`` algorithm, a peer public key (DER SubjectPublicKeyInfo) on the
key's curve; the answer is the raw shared secret (the x coordinate), as AWS KMS returns it.
"""

from __future__ import annotations

import base64
import json
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from moto.kms.responses import KmsResponse
from moto.server import main


def _error(kind: str, message: str) -> tuple[int, dict[str, str], str]:
    return 400, {"status": "400"}, json.dumps({"__type": kind, "message": message})


def derive_shared_secret(self: KmsResponse) -> str | tuple[int, dict[str, str], str]:
    key_id = self._get_param("KeyId")
    self._validate_key_id(key_id)
    key, _ = self.kms_backend.get_public_key(key_id)
    if key.key_state != "Enabled":
        return _error("DisabledException", f"{key.arn} is {key.key_state}")
    if key.key_usage != "KEY_AGREEMENT":
        return _error("InvalidKeyUsageException", f"{key.arn} key usage is {key.key_usage}, not KEY_AGREEMENT")
    if self._get_param("KeyAgreementAlgorithm") != "ECDH":
        return _error("ValidationException", "KeyAgreementAlgorithm must be ECDH")
    try:
        peer = serialization.load_der_public_key(base64.b64decode(self._get_param("PublicKey")))
    except ValueError:
        return _error("ValidationException", "PublicKey is not a DER SubjectPublicKeyInfo")
    private = key.private_key.private_key  # moto's wrapper holds the cryptography key
    if not isinstance(peer, ec.EllipticCurvePublicKey) or peer.curve.name != private.curve.name:
        return _error("ValidationException", "PublicKey is not on the key's curve")
    secret = private.exchange(ec.ECDH(), peer)
    return json.dumps({"KeyId": key.arn, "SharedSecret": base64.b64encode(secret).decode(),
                       "KeyAgreementAlgorithm": "ECDH", "KeyOrigin": "AWS_KMS"})  # fmt: skip


KmsResponse.derive_shared_secret = derive_shared_secret  # type: ignore[attr-defined]

if __name__ == "__main__":
    main(["-H", "127.0.0.1", "-p", sys.argv[1]])
