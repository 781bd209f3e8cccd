"""Keyless signing against a real --dev server: CA, CT, TSA, OIDC and every refusal."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from rfc3161_client import TimestampRequestBuilder, VerifierBuilder, decode_timestamp_response

from assay.formats.trustroot import parse_trusted_root
from assay.verify.fulcio import claims
from tests.conftest import run_assay
from tests.integration.conftest import ServerProcess, dev_token


def _issuer(srv: ServerProcess, flavour: str = "") -> str:
    return srv.url + "/dev/oidc" + (f"/{flavour}" if flavour else "")


def test_keyless_blob_and_attestation(dev_server, tmp_path: Path):
    srv = dev_server
    (tmp_path / "a.txt").write_text("release")
    token = dev_token(srv, email="alice@example.com")
    r = run_assay("sign-blob", "a.txt", "--identity-token", token, "--server", srv.url, cwd=tmp_path)
    assert r.code == 0, r.err
    bundle = json.loads((tmp_path / "a.txt.sigstore.json").read_text())
    vm = bundle["verificationMaterial"]
    assert "certificate" in vm and vm["tlogEntries"] and vm["timestampVerificationData"]["rfc3161Timestamps"]
    cert = x509.load_der_x509_certificate(base64.b64decode(vm["certificate"]["rawBytes"]))
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() == 600
    ok = run_assay(
        "verify-blob",
        "a.txt",
        "--certificate-identity",
        "alice@example.com",
        "--certificate-oidc-issuer",
        _issuer(srv),
        "--server",
        srv.url,
        "-o",
        "json",
        cwd=tmp_path,
    )
    assert ok.code == 0, ok.err
    assert {t["source"] for t in json.loads(ok.out)["verifiedTimes"]} == {"tsa", "tlog"}
    wrong = run_assay(
        "verify-blob",
        "a.txt",
        "--certificate-identity",
        "mallory@example.com",
        "--certificate-oidc-issuer",
        _issuer(srv),
        "--server",
        srv.url,
        cwd=tmp_path,
    )
    assert wrong.code == 1 and "error[identity-mismatch]" in wrong.err
    (tmp_path / "p.json").write_text('{"builder": {"id": "local"}}')
    token = dev_token(srv, email="alice@example.com")
    r = run_assay(
        "attest-blob",
        "a.txt",
        "--predicate",
        "p.json",
        "--type",
        "custom",
        "--identity-token",
        token,
        "--server",
        srv.url,
        "--bundle",
        "att.json",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    ok = run_assay(
        "verify-blob-attestation", "a.txt", "--bundle", "att.json", "--type", "custom",
        "--certificate-identity", "alice@example.com", "--certificate-oidc-issuer", _issuer(srv), "--server", srv.url, cwd=tmp_path,
    )  # fmt: skip
    assert ok.code == 0, ok.err


def test_github_shaped_token_gets_fulcio_extensions(dev_server, tmp_path: Path):
    srv = dev_server
    token = dev_token(
        srv, "github", repository="acme/rocket", ref="refs/tags/v1.2.0", workflow=".github/workflows/release.yml"
    )
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    r = httpx.post(
        srv.url + "/api/v2/signingCert",
        json={
            "credentials": {"oidcIdentityToken": token},
            "certificateSigningRequest": base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode(),
        },
    )
    assert r.status_code == 201, r.text
    pems = r.json()["signedCertificateEmbeddedSct"]["chain"]["certificates"]
    assert len(pems) == 3
    c = claims(x509.load_pem_x509_certificate(pems[0].encode()))
    wf = "https://github.com/acme/rocket/.github/workflows/release.yml@refs/tags/v1.2.0"
    assert c["subject"] == wf
    assert c["issuer"] == _issuer(srv, "github") == c["oidcIssuerV1"]
    assert c["buildSignerURI"] == c["buildConfigURI"] == wf
    assert c["sourceRepositoryURI"] == "https://github.com/acme/rocket"
    assert c["sourceRepositoryRef"] == "refs/tags/v1.2.0" == c["githubWorkflowRef"]
    assert c["sourceRepositoryOwnerURI"] == "https://github.com/acme"
    assert c["runnerEnvironment"] == "github-hosted" and c["buildTrigger"] == "push" == c["githubWorkflowTrigger"]
    assert c["runInvocationURI"] == "https://github.com/acme/rocket/actions/runs/42/attempts/1"
    assert c["sourceRepositoryVisibilityAtSigning"] == "public"
    # and verify-blob can require them by name
    (tmp_path / "a.txt").write_text("x")
    token = dev_token(srv, "github", repository="acme/rocket", ref="refs/tags/v1.2.0")
    assert run_assay("sign-blob", "a.txt", "--identity-token", token, "--server", srv.url, cwd=tmp_path).code == 0
    base = [
        "verify-blob",
        "a.txt",
        "--certificate-identity",
        wf,
        "--certificate-oidc-issuer",
        _issuer(srv, "github"),
        "--server",
        srv.url,
    ]
    ok = run_assay(
        *base,
        "--certificate-extension",
        "sourceRepositoryURI=https://github.com/acme/rocket",
        "--certificate-extension",
        "sourceRepositoryRef=refs/tags/v1.2.0",
        cwd=tmp_path,
    )
    assert ok.code == 0, ok.err
    bad = run_assay(*base, "--certificate-extension", "sourceRepositoryRef=refs/heads/main", cwd=tmp_path)
    assert bad.code == 1 and "error[extension-mismatch]" in bad.err


def _signing_cert(srv: ServerProcess, token: str, body: dict | None = None) -> httpx.Response:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    doc = body or {"certificateSigningRequest": base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()}
    return httpx.post(srv.url + "/api/v2/signingCert", json=doc, headers={"Authorization": f"Bearer {token}"})


def test_token_refusals(dev_server):
    srv = dev_server
    cases = {
        "oidc-token-expired": dev_token(srv, email="a@example.com", issuedAt=int(time.time()) - 3600, expiresIn=60),
        "oidc-wrong-audience": dev_token(srv, email="a@example.com", audience="not-sigstore"),
        "oidc-email-not-verified": dev_token(srv, email="a@example.com", emailVerified=False),
        "oidc-token-not-yet-valid": dev_token(srv, email="a@example.com", claims={"nbf": int(time.time()) + 3600}),
    }
    rogue = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    base_claims = {
        "sub": "a@example.com",
        "email": "a@example.com",
        "email_verified": True,
        "aud": "sigstore",
        "iat": now,
        "exp": now + 300,
    }
    cases["oidc-unknown-issuer"] = jwt.encode({**base_claims, "iss": "https://evil.example"}, rogue, algorithm="ES256")
    cases["oidc-bad-signature"] = jwt.encode(
        {**base_claims, "iss": _issuer(srv)},
        rogue,
        algorithm="ES256",
        headers={"kid": jwt.get_unverified_header(cases["oidc-wrong-audience"])["kid"]},
    )
    cases["oidc-bad-algorithm"] = jwt.encode(
        {**base_claims, "iss": _issuer(srv)}, "s3cret-hmac-key-of-sufficient-length!!", algorithm="HS256"
    )
    cases["oidc-token-malformed"] = "not.a.jwt"
    for reason, token in cases.items():
        r = _signing_cert(srv, token)
        assert r.status_code == 401, (reason, r.text)
        assert r.json()["reason"] == reason, (reason, r.text)
    r = httpx.post(srv.url + "/api/v2/signingCert", json={"certificateSigningRequest": "AAAA"})
    assert r.status_code == 401 and r.json()["reason"] == "oidc-token-missing"


def test_proof_of_possession(dev_server):
    srv = dev_server
    key = ec.generate_private_key(ec.SECP256R1())
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )

    def request(challenge: bytes) -> httpx.Response:
        proof = base64.b64encode(key.sign(challenge, ec.ECDSA(hashes.SHA256()))).decode()
        body = {
            "credentials": {"oidcIdentityToken": dev_token(srv, email="pop@example.com")},
            "publicKeyRequest": {"publicKey": {"algorithm": "ECDSA", "content": pem}, "proofOfPossession": proof},
        }
        return httpx.post(srv.url + "/api/v2/signingCert", json=body)

    ok = request(b"pop@example.com")
    assert ok.status_code == 201, ok.text
    bad = request(b"someone-else@example.com")
    assert bad.status_code == 400 and bad.json()["reason"] == "proof-of-possession-invalid"
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 1  # break the CSR's self-signature
    tampered = base64.b64encode(x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)).decode()
    r = _signing_cert(srv, dev_token(srv, email="pop@example.com"), {"certificateSigningRequest": tampered})
    assert r.status_code == 400 and r.json()["reason"] == "proof-of-possession-invalid"


def test_trust_material_and_tsa(dev_server):
    srv = dev_server
    cfg = httpx.get(srv.url + "/api/v1/trustConfig").json()
    root = parse_trusted_root(cfg)
    assert len(root.certificate_authorities) == 1 and len(root.ctlogs) == 1 and len(root.timestamp_authorities) == 1
    sc = cfg["signingConfig"]
    assert sc["mediaType"] == "application/vnd.dev.sigstore.signingconfig.v0.2+json"
    assert sc["tsaUrls"][0]["url"] == srv.url + "/api/v1/timestamp"
    assert _issuer(srv) in [o["url"] for o in sc["oidcUrls"]]
    assert (
        httpx.get(srv.url + "/api/v2/trustBundle")
        .json()["chains"][0]["certificates"][0]
        .startswith("-----BEGIN CERTIFICATE")
    )
    issuers = {i["issuerUrl"]: i for i in httpx.get(srv.url + "/api/v2/configuration").json()["issuers"]}
    assert issuers[_issuer(srv, "github")]["challengeClaim"] == "sub"
    req = TimestampRequestBuilder().data(b"sig").nonce(nonce=True).cert_request(cert_request=True).build()
    r = httpx.post(
        srv.url + "/api/v1/timestamp", content=req.as_bytes(), headers={"Content-Type": "application/timestamp-query"}
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/timestamp-reply"
    tsr = decode_timestamp_response(r.content)
    tsa = root.timestamp_authorities[0]
    assert (
        VerifierBuilder()
        .tsa_certificate(tsa.chain[0])
        .add_root_certificate(tsa.chain[-1])
        .nonce(req.nonce)
        .build()
        .verify_message(tsr, b"sig")
    )
    bad = httpx.post(srv.url + "/api/v1/timestamp", content=b"\x30\x03junk")
    assert bad.status_code == 400 and bad.json()["reason"] == "timestamp-request-malformed"


def test_dev_issuer_is_off_without_dev(server):
    assert httpx.post(server.url + "/dev/oidc/token", json={}).status_code == 404
    r = run_assay("dev", "token", "--server", server.url)
    assert r.code == 2 and "error[dev-issuer-off]" in r.err


def test_external_issuer_via_discovery(tmp_path: Path):
    """One assay --dev server acts as the OIDC provider of another: discovery + JWKS over HTTP."""
    provider = ServerProcess(tmp_path / "idp", None, extra=["--dev"]).start()
    try:
        issuer = provider.url + "/dev/oidc"
        ca = ServerProcess(tmp_path / "ca", None, extra=["--oidc-issuer", f"{issuer}=email"]).start()
        try:
            (tmp_path / "a.txt").write_text("x")
            token = dev_token(provider, email="ext@example.com")
            r = run_assay("sign-blob", "a.txt", "--identity-token", token, "--server", ca.url, cwd=tmp_path)
            assert r.code == 0, r.err
            ok = run_assay(
                "verify-blob",
                "a.txt",
                "--certificate-identity",
                "ext@example.com",
                "--certificate-oidc-issuer",
                issuer,
                "--server",
                ca.url,
                cwd=tmp_path,
            )
            assert ok.code == 0, ok.err
            # tokens from the CA server's own (absent) dev issuer are refused
            assert _signing_cert(ca, token.replace(".", ".x", 1)).status_code == 401
        finally:
            ca.stop()
    finally:
        provider.stop()


def test_hsm_backed_ca(tmp_path: Path, hsm):
    srv = ServerProcess(tmp_path / "data", None, extra=["--dev", "--ca-key", "hsm:2?label=assay-test"], env=hsm).start()
    try:
        (tmp_path / "a.txt").write_text("hsm ca")
        token = dev_token(srv, email="hsm@example.com")
        r = run_assay("sign-blob", "a.txt", "--identity-token", token, "--server", srv.url, cwd=tmp_path)
        assert r.code == 0, r.err
        ok = run_assay(
            "verify-blob",
            "a.txt",
            "--certificate-identity",
            "hsm@example.com",
            "--certificate-oidc-issuer",
            _issuer(srv),
            "--server",
            srv.url,
            cwd=tmp_path,
        )
        assert ok.code == 0, ok.err
        inter = x509.load_pem_x509_certificate((tmp_path / "data" / "ca" / "fulcio-intermediate.pem").read_bytes())
        pub = serialization.load_pem_public_key(
            run_assay("public-key", "--key", "hsm:2?label=assay-test", env=hsm).out.encode()
        )
        assert inter.public_key() == pub
    finally:
        srv.stop()


def test_conformance_sign_bundle_uses_the_signing_config(dev_server, tmp_path: Path):
    srv = dev_server
    cfg = httpx.get(srv.url + "/api/v1/trustConfig").json()
    (tmp_path / "sc.json").write_text(json.dumps(cfg["signingConfig"]))
    (tmp_path / "tr.json").write_text(json.dumps(cfg["trustedRoot"]))
    (tmp_path / "a.txt").write_text("conformance")
    token = dev_token(srv, email="conf@example.com")
    r = run_assay(
        "conformance",
        "sign-bundle",
        "--identity-token",
        token,
        "--bundle",
        "b.json",
        "--signing-config",
        "sc.json",
        "--trusted-root",
        "tr.json",
        "a.txt",
        cwd=tmp_path,
    )
    assert r.code == 0, r.err
    v = run_assay(
        "conformance",
        "verify-bundle",
        "--bundle",
        "b.json",
        "--certificate-identity",
        "conf@example.com",
        "--certificate-oidc-issuer",
        _issuer(srv),
        "--trusted-root",
        "tr.json",
        "a.txt",
        cwd=tmp_path,
    )
    assert v.code == 0, v.err
    (tmp_path / "bad.json").write_text(
        json.dumps({**cfg["signingConfig"], "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.9+json"})
    )
    bad = run_assay(
        "conformance",
        "sign-bundle",
        "--identity-token",
        token,
        "--bundle",
        "c.json",
        "--signing-config",
        "bad.json",
        "a.txt",
        cwd=tmp_path,
    )
    assert bad.code == 2 and "error[unknown-signing-config]" in bad.err
