"""sigstore-python's own Rekor v1 client against the assay log."""

import hashlib

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from assay.log.entries import hashedrekord_proposal

rekor_client = pytest.importorskip("sigstore._internal.rekor.client")
trust = pytest.importorskip("sigstore._internal.trust")
models = pytest.importorskip("sigstore.models")


def test_sigstore_python_posts_and_verifies_entries(server, tmp_path):
    client = rekor_client.RekorClient(server.url)
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(b"interop").digest()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    entry = client.log.entries.post(
        hashedrekord_proposal(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))), digest, pem)
    )
    (tmp_path / "tr.json").write_bytes(httpx.get(server.url + "/api/v1/trustedRoot").content)
    root = models.TrustedRoot.from_file(str(tmp_path / "tr.json"))
    entry._verify(root.rekor_keyring(trust.KeyringPurpose.VERIFY))  # SET, inclusion proof, checkpoint
    assert entry._inner.log_index == 0
