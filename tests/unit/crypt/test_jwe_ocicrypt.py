"""JWE (multi-recipient and flattened forms) and the ocicrypt layer cipher: round trips and refusals."""

from __future__ import annotations

import io
import json
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from assay.crypt import jwe, ocicrypt
from assay.errors import AssayError

RSA = rsa.generate_private_key(65537, 2048)
P256 = ec.generate_private_key(ec.SECP256R1())


def test_multi_recipient_round_trip() -> None:
    blob = jwe.encrypt(b"secret", [RSA.public_key(), P256.public_key()])
    doc = json.loads(blob)
    assert [r["header"]["alg"] for r in doc["recipients"]] == ["RSA-OAEP", "ECDH-ES+A256KW"]
    assert json.loads(jwe.unb64u(doc["protected"])) == {"enc": "A256GCM"}
    assert jwe.decrypt(blob, [RSA]) == b"secret"
    assert jwe.decrypt(blob, [P256]) == b"secret"


def test_flattened_form_with_alg_in_protected_header() -> None:
    """go-jose moves a single recipient's header into the protected header and flattens the JSON."""
    general = json.loads(jwe.encrypt(b"x", [P256.public_key()]))
    # rebuild as go-jose does: protected = recipient header + enc (re-encrypt under the new AAD)
    from cryptography.hazmat.primitives import keywrap
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = general["recipients"][0]["header"]
    z = P256.exchange(ec.ECDH(), jwe._epk(header, P256.curve))
    cek = keywrap.aes_key_unwrap(
        jwe._kdf(z, "ECDH-ES+A256KW", 32, b"", b""), jwe.unb64u(general["recipients"][0]["encrypted_key"])
    )
    protected = jwe.b64u(json.dumps({**header, "enc": "A256GCM"}).encode())
    iv = os.urandom(12)
    sealed = AESGCM(cek).encrypt(iv, b"flat", protected.encode())
    flat = {"protected": protected, "encrypted_key": general["recipients"][0]["encrypted_key"],
            "iv": jwe.b64u(iv), "ciphertext": jwe.b64u(sealed[:-16]), "tag": jwe.b64u(sealed[-16:])}  # fmt: skip
    assert jwe.decrypt(json.dumps(flat).encode(), [P256]) == b"flat"


def test_wrong_key_and_tampered_jwe() -> None:
    blob = jwe.encrypt(b"secret", [RSA.public_key()])
    with pytest.raises(AssayError) as exc:
        jwe.decrypt(blob, [ec.generate_private_key(ec.SECP256R1())])
    assert exc.value.reason == "no-matching-key"
    doc = json.loads(blob)
    doc["ciphertext"] = jwe.b64u(bytes(b ^ 1 for b in jwe.unb64u(doc["ciphertext"])))
    with pytest.raises(AssayError) as exc:
        jwe.decrypt(json.dumps(doc).encode(), [RSA])
    assert exc.value.reason == "jwe-tampered"
    with pytest.raises(AssayError) as exc:
        jwe.decrypt(b"{not json", [RSA])
    assert exc.value.reason == "malformed-jwe"


def _encrypt_layer(data: bytes) -> tuple[bytes, dict]:
    sink = io.BytesIO()
    import hashlib

    enc = ocicrypt.LayerEncryptor(sink, "sha256:" + hashlib.sha256(data).hexdigest())
    enc.write(data)
    key, mac, digest, size = enc.finish()
    desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+encrypted", "digest": digest, "size": size}
    desc["annotations"] = ocicrypt.layer_annotations(key, mac, [P256.public_key()])
    return sink.getvalue(), desc


def test_layer_round_trip_and_descriptor() -> None:
    data = os.urandom(100_000)
    ct, desc = _encrypt_layer(data)
    key = ocicrypt.unwrap(desc, [P256])
    out = io.BytesIO()
    dec = ocicrypt.LayerDecryptor(out, key, ocicrypt.public_hmac(desc))
    dec.write(ct)
    digest, size = dec.finish()
    assert out.getvalue() == data and size == len(data)
    plain = ocicrypt.plain_descriptor(desc, digest, size)
    assert plain == {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size}


def test_layer_hmac_and_cipher_refusals() -> None:
    ct, desc = _encrypt_layer(b"layer bytes")
    key = ocicrypt.unwrap(desc, [P256])
    dec = ocicrypt.LayerDecryptor(io.BytesIO(), key, ocicrypt.public_hmac(desc))
    dec.write(bytes([ct[0] ^ 1]) + ct[1:])
    with pytest.raises(AssayError) as exc:
        dec.finish()
    assert exc.value.reason == "layer-hmac-mismatch"
    import base64

    bad = {
        **desc,
        "annotations": {**desc["annotations"], ocicrypt.PUBOPTS: base64.b64encode(b'{"cipher":"X"}').decode()},
    }
    with pytest.raises(AssayError) as exc:
        ocicrypt.public_hmac(bad)
    assert exc.value.reason == "unsupported-layer-cipher"
    with pytest.raises(AssayError) as exc:
        ocicrypt.unwrap({"annotations": {}}, [P256])
    assert exc.value.reason == "no-jwe-recipients"
