"""Issue 22 item 0: nothing is "verified" on its own say-so.

Attacks through the HTTP API of a real server (SQLite and PostgreSQL) with only what anyone has: the open
transparency log, keys of their own, and self-made certificates. The log accepts such entries (as Rekor
does); what must not happen is that they surface as verified evidence attributed to someone else.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from assay.clients.rekor import entry_from_response
from assay.crypto import keys
from assay.formats.bundle import MEDIA_TYPE_V03, Bundle
from assay.formats.dsse import Envelope, Signature, pae
from tests.conftest import run_assay
from tests.integration.accesskit import ProjectServer, project_server

P = "acme"
TLOG = "tlog"
PAYLOAD_TYPE = "application/vnd.in-toto+json"


@pytest.fixture
def srv(tmp_path: Path, database: str | None) -> Iterator[ProjectServer]:
    """A --dev server with project ``acme`` and the ``tlog`` project the log's DSSE entries are kept under."""
    ps = project_server(tmp_path, database, P, "ci@acme.test")
    try:
        ps.admin.ok("POST", "/api/v1/projects", {"name": TLOG})
        yield ps
    finally:
        ps.srv.stop()


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _signer_of(key: ec.EllipticCurvePrivateKey) -> str:
    return "key:" + keys.key_id(key.public_key())


def _statement(subject: bytes) -> bytes:
    return json.dumps({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "app.bin", "digest": {"sha256": hashlib.sha256(subject).hexdigest()}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"builder": {"id": "https://evil.example/builder"}},
    }).encode()  # fmt: skip


def _envelope(key: ec.EllipticCurvePrivateKey, payload: bytes, keyid: str = "") -> Envelope:
    sig = key.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    return Envelope(payload, PAYLOAD_TYPE, (Signature(sig, keyid),))


def _append(ps: ProjectServer, env: Envelope, verifiers: list[bytes]) -> dict:
    proposal = {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "proposedContent": {
                "envelope": json.dumps(env.to_json()),
                "verifiers": [base64.b64encode(v).decode() for v in verifiers],
            }
        },
    }
    r = httpx.post(ps.url + "/api/v1/log/entries", json=proposal, timeout=60)
    assert r.status_code == 201, r.text  # the open log takes it, as Rekor would
    return dict(r.json())


def _self_signed(email: str, issuer: str) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """A certificate that says everything a Fulcio certificate says, signed by nobody but itself."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sigstore-intermediate")])
    issuer_der = b"\x0c" + bytes([len(issuer)]) + issuer.encode()  # UTF8String, as Fulcio encodes 1.3.6.1.4.1.57264.1.8
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"), issuer.encode()), critical=False
        )
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), issuer_der), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def _evidence(ps: ProjectServer, project: str, **params: str) -> list[dict]:
    r = httpx.get(f"{ps.url}/api/v1/projects/{project}/evidence", params=params, headers=ps.auth(), timeout=30)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _trust(ps: ProjectServer, project: str, **doc: object) -> None:
    r = httpx.put(f"{ps.url}/api/v1/projects/{project}/trust", json=doc, headers=ps.auth(), timeout=30)
    assert r.status_code == 200, r.text


def _upload(ps: ProjectServer, data: bytes, **params: str) -> httpx.Response:
    return httpx.post(f"{ps.url}/api/v1/projects/{P}/evidence", content=data, params=params,
                      headers=ps.auth(ps.publisher), timeout=60)  # fmt: skip


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_victims_key_listed_first_does_not_make_the_entry_the_victims(srv: ProjectServer):
    victim, attacker = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    repository_key = httpx.get(f"{srv.url}/api/v1/repository/publicKey", timeout=30)
    assert repository_key.status_code == 200, repository_key.text
    _trust(srv, TLOG, keys=[_pem(victim).decode(), repository_key.text])
    for n, first in enumerate([_pem(victim), repository_key.content]):
        subject = f"artifact {n}".encode()
        _append(srv, _envelope(attacker, _statement(subject)), [first, _pem(attacker)])
        assert _evidence(srv, TLOG, subject=_sha(subject)) == [], "nothing verified: no trusted key signed it"
        (kept,) = _evidence(srv, TLOG, subject=_sha(subject), status="unverified")
        assert kept["reason"] == "tlog-body-mismatch"  # the log paired the signature with the attacker's key
    assert _evidence(srv, TLOG, signer=_signer_of(victim)) == []
    # the key that really signed is the signer, once the project trusts it
    _trust(srv, TLOG, keys=[_pem(victim).decode(), _pem(attacker).decode()])
    subject = b"artifact signed by the attacker"
    _append(srv, _envelope(attacker, _statement(subject)), [_pem(victim), _pem(attacker)])
    (found,) = _evidence(srv, TLOG, subject=_sha(subject))
    assert found["signer"]["identity"] == _signer_of(attacker)
    assert found["kind"] == "bundle" and found["logEntry"] is not None
    assert _evidence(srv, TLOG, signer=_signer_of(victim)) == []


def test_a_victims_keyid_on_a_bare_envelope_does_not_make_it_the_victims(srv: ProjectServer):
    victim, attacker = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    _trust(srv, P, keys=[_pem(victim).decode()])
    env = _envelope(attacker, _statement(b"bare"), keyid=keys.key_id(victim.public_key()))
    r = _upload(srv, json.dumps(env.to_json()).encode())
    assert r.status_code == 422 and r.json()["reason"] == "signature-mismatch", r.text
    assert _evidence(srv, P, subject=_sha(b"bare")) == []


def test_a_self_signed_certificate_claiming_the_admin_is_no_identity(srv: ProjectServer):
    issuer = srv.url + "/dev/oidc"
    key, cert = _self_signed("admin@example.com", issuer)
    subject = b"artifact 'signed' by the admin"
    env = _envelope(key, _statement(subject))
    logged = _append(srv, env, [cert])

    # the log's copy: kept unverified with the chain's reason, never found by signer
    assert _evidence(srv, TLOG, subject=_sha(subject)) == []
    (kept,) = _evidence(srv, TLOG, subject=_sha(subject), status="unverified")
    assert kept["reason"] == "certificate-chain-invalid"
    assert _evidence(srv, TLOG, signer="admin@example.com") == []

    # the same as a bundle a client would hold (the log's real proof and SET), uploaded to a project
    der = x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
    bundle = Bundle(MEDIA_TYPE_V03, (0, 3), certificates=(der,), tlog_entries=(entry_from_response(logged),),
                    dsse_envelope=env).to_bytes()  # fmt: skip
    r = _upload(srv, bundle)
    assert r.status_code == 422 and r.json()["reason"] == "certificate-chain-invalid", r.text
    r = _upload(srv, bundle, accept="unverified")
    assert r.status_code == 201 and r.json()["items"][0]["verified"] is False, r.text
    assert _evidence(srv, P, signer="admin@example.com") == []


def test_a_batch_with_one_forged_item_marks_only_the_genuine_one(srv: ProjectServer, tmp_path: Path):
    (tmp_path / "app.bin").write_bytes(b"release artifact")
    (tmp_path / "pred.json").write_text("{}")
    assert run_assay("keygen", "--output-prefix", "k1", cwd=tmp_path).code == 0
    r = run_assay("attest-blob", "app.bin", "--predicate", "pred.json", "--type", "custom", "--key", "k1.key",
                  "--bundle", "app.att.json", cwd=tmp_path)  # fmt: skip
    assert r.code == 0, r.err
    _trust(srv, P, keys=[(tmp_path / "k1.pub").read_text()])
    trusted = keys.parse_public((tmp_path / "k1.pub").read_bytes(), "k1.pub")
    attacker = ec.generate_private_key(ec.SECP256R1())
    forged = _envelope(attacker, _statement(b"release artifact"), keyid=keys.key_id(trusted))
    genuine = json.dumps(json.loads((tmp_path / "app.att.json").read_bytes()), separators=(",", ":"))
    batch = (genuine + "\n" + json.dumps(forged.to_json()) + "\n").encode()
    r = _upload(srv, batch)
    assert r.status_code == 422 and r.json()["reason"] == "signature-mismatch", r.text
    assert r.json()["message"].startswith("item 2: ")
    assert _evidence(srv, P, subject=_sha(b"release artifact")) == [], "a refused batch stores nothing"
    r = _upload(srv, batch, accept="unverified")
    assert r.status_code == 201, r.text
    items = r.json()["items"]
    assert [i["verified"] for i in items] == [True, False]
    assert (
        items[0]["signer"]["identity"] == "key:" + keys.key_id(trusted) and items[1]["reason"] == "signature-mismatch"
    )
    (found,) = _evidence(srv, P, subject=_sha(b"release artifact"))
    assert found["kind"] == "bundle"


def test_an_image_attachment_signed_by_another_key_is_not_verified_evidence(srv: ProjectServer, registry,
                                                                            tmp_path: Path):  # fmt: skip
    from tests.integration.conftest import push_image

    for k in ("victim", "attacker"):
        assert run_assay("keygen", "--output-prefix", k, cwd=tmp_path).code == 0
    digest = push_image(registry.host, "app", "v1", b"layer")
    ref = f"{registry.host}/app@{digest}"
    (tmp_path / "pred.json").write_text("{}")
    r = run_assay("attest", ref, "--key", "attacker.key", "--predicate", "pred.json", "--type", "custom",
                  "--insecure", cwd=tmp_path)  # fmt: skip
    assert r.code == 0, r.err
    _trust(srv, P, keys=[(tmp_path / "victim.pub").read_text()])
    r = run_assay("evidence", "put", ref, "--insecure", "--server", srv.url, "--project", P, cwd=tmp_path,
                  env={"ASSAY_TOKEN": str(srv.publisher.bearer)})  # fmt: skip
    assert r.code == 1 and "signature-mismatch" in r.err, (r.code, r.err)
    assert _evidence(srv, P, subject=digest) == []
    assert _evidence(srv, P, signer="key:" + keys.key_id(keys.parse_public(
        (tmp_path / "victim.pub").read_bytes(), "victim.pub"))) == []  # fmt: skip
