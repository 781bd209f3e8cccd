"""The broker's unwrap decision on a migrated SQLite database: grant (JWE to the ephemeral key), refusals, replay."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.broker import service
from assay.crypt import age, jwe
from assay.errors import AssayError

POLICY = {"rules": [{"name": "ci", "issuer": "https://i", "subject": "wl", "audience": "broker"}]}
CLAIMS = {"iss": "https://i", "sub": "wl", "aud": "broker"}


@pytest.fixture
def engine(tmp_path: Path):
    from assay.store.db import migrate, open_engine

    e = open_engine(f"sqlite:///{tmp_path}/b.db")
    migrate(e)
    return e


def test_unwrap_grant_refuse_replay(engine, tmp_path: Path) -> None:
    logged: list[bytes] = []

    def append(statement: bytes) -> tuple[int, str]:
        logged.append(statement)
        return len(logged) - 1, ""

    key = service.create_key(engine, tmp_path / "keys", "p", "k", "admin")
    file_key = os.urandom(16)
    st = age.Recipient.parse(key.recipient).wrap(file_key)
    eph = ec.generate_private_key(ec.SECP256R1())
    pem = eph.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def req() -> dict:
        import base64

        stanza = {"type": st.type, "args": list(st.args), "body": base64.b64encode(st.body).decode()}
        return {"stanza": stanza, "ephemeralKey": pem.decode(), "nonce": os.urandom(16).hex(),
                "timestamp": time.time(), "evidence": {"token": "t"}}  # fmt: skip

    with pytest.raises(AssayError) as exc:
        service.unwrap(engine, "p", "k", req(), CLAIMS, None, "me", append)
    assert exc.value.reason == "no-decryption-policy"
    service.put_policy(engine, "p", "k", json.dumps(POLICY).encode(), "writer", append)
    r = req()
    out = service.unwrap(engine, "p", "k", r, CLAIMS, None, "me", append)
    assert jwe.decrypt(out["jwe"].encode(), [eph]) == file_key
    with pytest.raises(AssayError) as exc:
        service.unwrap(engine, "p", "k", r, CLAIMS, None, "me", append)
    assert exc.value.reason == "replayed-request"
    with pytest.raises(AssayError) as exc:
        service.unwrap(engine, "p", "k", req(), {**CLAIMS, "aud": "x"}, None, "me", append)
    assert exc.value.reason == "policy-refused" and "rule ci: audience" in exc.value.message
    rels = service.releases(engine, "p", "k")
    assert [x["decision"] for x in rels] == ["refused", "granted", "refused"]
    assert all(json.loads(logged[x["logIndex"]]) == x["statement"] for x in rels)
    with pytest.raises(LookupError):
        service.keys(engine, "p", "nope")
