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
from assay.broker.signed import SignedPolicy
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

    def append(statement: bytes, claim=None, record=None) -> tuple[int, str]:
        # As the log service does: claim, entry and record in one transaction; a failing claim appends nothing.
        with engine.begin() as conn:
            if claim is not None:
                claim(conn)
            logged.append(statement)
            if record is not None:
                record(conn, len(logged) - 1)
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
    signed = SignedPolicy(json.dumps(POLICY).encode(), "key:abc")
    service.put_policy(engine, "p", "k", signed, b"{}", "writer", append)
    r = req()
    out = service.unwrap(engine, "p", "k", r, CLAIMS, None, "me", append)
    assert jwe.decrypt(out["jwe"].encode(), [eph]) == file_key
    with pytest.raises(AssayError) as exc:
        service.unwrap(engine, "p", "k", r, CLAIMS, None, "me", append)
    assert exc.value.reason == "replayed-request"
    with pytest.raises(AssayError) as exc:
        service.unwrap(engine, "p", "k", req(), {**CLAIMS, "aud": "x"}, None, "me", append)
    assert exc.value.reason == "policy-audience" and "rule ci: audience" in exc.value.message
    rels = service.releases(engine, "p", "k")
    assert len(logged) == 4  # the policy, the refusal, the grant, the audience refusal: the replay logged nothing
    assert [x["decision"] for x in rels] == ["refused", "granted", "refused"]
    assert all(json.loads(logged[x["logIndex"]]) == x["statement"] for x in rels)
    with pytest.raises(LookupError):
        service.keys(engine, "p", "nope")


def test_rewrap_moves_the_stanza_to_the_newest_version_keeping_the_payload(engine, tmp_path: Path) -> None:
    import io

    logged: list[bytes] = []

    def append(statement: bytes) -> tuple[int, str]:
        logged.append(statement)
        return len(logged) - 1, ""

    v1 = service.create_key(engine, tmp_path / "keys", "p", "k", "admin")
    other = age.Identity.generate()
    src, sink = io.BytesIO(b"secret payload" * 1000), io.BytesIO()
    age.encrypt(src, sink, [age.Recipient.parse(v1.recipient), other.recipient()])
    data = sink.getvalue()
    end = data.index(b"\n", data.index(b"\n---") + 1) + 1
    v2 = service.create_key(engine, tmp_path / "keys", "p", "k", "admin")
    import base64

    out = service.rewrap(engine, "p", "k", data[:end], "admin", append)
    assert (out["fromVersion"], out["toVersion"]) == (1, 2)
    rewrapped = base64.b64decode(out["header"]) + data[end:]
    ident2 = age.parse_identities(Path(v2.private_ref.removeprefix("file:")).read_text())
    ident1 = age.parse_identities(Path(v1.private_ref.removeprefix("file:")).read_text())
    for ids in (ident2, [other]):
        plain = io.BytesIO()
        age.decrypt(io.BytesIO(rewrapped), plain, ids)
        assert plain.getvalue() == b"secret payload" * 1000
    with pytest.raises(AssayError) as exc:
        age.decrypt(io.BytesIO(rewrapped), io.BytesIO(), ident1)
    assert exc.value.reason == "no-matching-identity"
    tampered = data[:end].replace(b"age-encryption.org/v1\n", b"age-encryption.org/v1\n-> grease x\n\n", 1)
    with pytest.raises(AssayError) as exc:
        service.rewrap(engine, "p", "k", tampered, "admin", append)
    assert exc.value.reason == "header-mac-mismatch"
    with pytest.raises(AssayError) as exc:
        service.rewrap(engine, "p", "k", b"not an age header", "admin", append)
    assert exc.value.reason == "bad-rewrap-request"
