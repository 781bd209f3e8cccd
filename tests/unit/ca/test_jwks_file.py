"""Static key files for --oidc-jwks: plain JWKS and SPIFFE bundles, SPIFFE IDs, and iss-less JWT-SVIDs.

Keys are real (RSA and P-256, made here); the files are the JSON a cluster's ``/openid/v1/jwks`` or SPIRE's
bundle endpoint serves."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from assay.ca import jwks_file
from assay.ca.oidc import IssuerConfig, TokenError, TokenVerifier
from assay.errors import AssayError

TD = "spiffe://example.org"
APP = TD + "/ns/prod/sa/app"


def _jwk(key: Any, kid: str | None, use: str | None = "jwt-svid") -> dict[str, Any]:
    public = key.public_key()
    algo = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    doc: dict[str, Any] = json.loads(algo.to_jwk(public))
    if kid is not None:
        doc["kid"] = kid
    if use is not None:
        doc["use"] = use
    return doc


def _bundle(*keys: dict[str, Any], **members: Any) -> bytes:
    return json.dumps({"spiffe_sequence": 7, "spiffe_refresh_hint": 300, "keys": list(keys), **members}).encode()


EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_a_spiffe_bundle_keeps_only_its_jwt_svid_keys() -> None:
    x509_root = {**_jwk(RSA_KEY, None, "x509-svid"), "x5c": ["MIIB..."]}
    unknown_use = _jwk(EC_KEY, "other", "something-new")
    unknown_kty = {"kty": "PQC", "kid": "pq", "use": "jwt-svid"}
    doc = jwks_file.parse(_bundle(x509_root, _jwk(EC_KEY, "svid-1"), unknown_use, unknown_kty), "bundle.json")
    assert [k["kid"] for k in doc["keys"]] == ["svid-1"]
    # a bundle with no jwt-svid key verifies no token (it is not an error to publish one)
    assert jwks_file.parse(_bundle(x509_root), "bundle.json") == {"keys": []}


def test_a_plain_jwks_keeps_signature_keys() -> None:
    data = json.dumps({"keys": [_jwk(RSA_KEY, "k8s-1", None), _jwk(EC_KEY, "enc", "enc")]}).encode()
    assert [k["kid"] for k in jwks_file.parse(data, "jwks.json")["keys"]] == ["k8s-1"]
    # the same file given for a SPIFFE trust domain is read as a bundle: no jwt-svid key, no key
    assert jwks_file.parse(data, "jwks.json", spiffe=True) == {"keys": []}


@pytest.mark.parametrize(
    "data,words",
    [
        (b"{not json", "json"),
        (b"[]", "JSON object"),
        (b'{"keys": {}}', "no keys list"),
        (_bundle({"kty": "EC", "use": "jwt-svid", "crv": "P-256", "x": "AA", "y": "AA", "kid": "x"}), "usable"),
        (_bundle(_jwk(EC_KEY, None)), "without a kid"),
        (_bundle(_jwk(EC_KEY, "a"), _jwk(RSA_KEY, "a")), "share the kid"),
        (_bundle(_jwk(EC_KEY, "a"), spiffe_sequence="7"), "spiffe_sequence"),
        (_bundle(_jwk(EC_KEY, "a"), spiffe_refresh_hint=-1), "spiffe_refresh_hint"),
        (_bundle({**_jwk(EC_KEY, "a"), "d": "secret"}), "private"),
        (json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}).encode(), "symmetric"),
        (json.dumps({"keys": [{"kid": 3, **_jwk(EC_KEY, None, None)}]}).encode(), "kid is not a string"),
        (json.dumps({"keys": [_jwk(EC_KEY, str(i), None) for i in range(65)]}).encode(), "more than 64"),
    ],
)
def test_bad_key_files_are_refused_with_one_reason(data: bytes, words: str) -> None:
    with pytest.raises(AssayError) as exc:
        jwks_file.parse(data, "keys.json")
    assert exc.value.reason == "bad-jwks"
    assert words in exc.value.message


@pytest.mark.parametrize(
    "uri,td",
    [
        (APP, "example.org"),
        ("spiffe://example.org", "example.org"),
        ("spiffe://td_1.example-x/a.b/c_d", "td_1.example-x"),
        ("spiffe://Example.org/app", None),  # the trust domain is lowercase
        ("spiffe://example.org:443/app", None),
        ("spiffe://user@example.org/app", None),
        ("spiffe:///app", None),
        ("spiffe://example.org/", None),  # no trailing slash
        ("spiffe://example.org/a//b", None),
        ("spiffe://example.org/a/../b", None),
        ("spiffe://example.org/a%20b", None),
        ("https://example.org/app", None),
        ("system:serviceaccount:prod:app", None),
        (7, None),
    ],
)
def test_spiffe_ids(uri: object, td: str | None) -> None:
    assert jwks_file.trust_domain(uri) == td


@pytest.mark.parametrize(
    "spec", ["https://k8s.example", "https://k8s.example=", "spiffe://example.org/ns=f.json", "http://=f.json"]
)
def test_bad_specs(spec: str) -> None:
    with pytest.raises(AssayError) as exc:
        jwks_file.parse_spec(spec)
    assert exc.value.reason == "bad-jwks"


def test_sources_load_every_file_once_and_refuse_duplicates(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_bytes(_bundle(_jwk(EC_KEY, "a")))
    found = jwks_file.sources([f"{TD}=" + str(tmp_path / "b.json"), "https://k8s.example/=" + str(tmp_path / "b.json")])
    assert set(found) == {TD, "https://k8s.example"} and found[TD].spiffe and not found["https://k8s.example"].spiffe
    with pytest.raises(AssayError) as exc:
        jwks_file.sources([f"{TD}=" + str(tmp_path / "b.json")] * 2)
    assert exc.value.reason == "bad-jwks" and "twice" in exc.value.message


def _verifier(tmp_path: Path, *keys: dict[str, Any]) -> tuple[TokenVerifier, Path]:
    path = tmp_path / "bundle.json"
    path.write_bytes(_bundle(*keys))
    source = jwks_file.JwksFile(path, spiffe=True)
    return TokenVerifier({TD: IssuerConfig(TD, "uri")}, local_jwks={TD: source}), path


def _svid(
    key: Any, kid: str = "svid-1", alg: str = "ES256", headers: dict[str, Any] | None = None, **claims: Any
) -> str:
    now = int(time.time())
    body = {"sub": APP, "aud": ["assay-broker"], "exp": now + 300, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=alg,
                      headers={"kid": kid, "typ": "JWT", **(headers or {})})  # fmt: skip


def _resolve(verifier: TokenVerifier, token: str) -> Any:
    return asyncio.run(verifier.resolve(token))


def test_an_iss_less_svid_resolves_to_its_trust_domain(tmp_path: Path) -> None:
    verifier, _ = _verifier(tmp_path, _jwk(EC_KEY, "svid-1"))
    found = _resolve(verifier, _svid(EC_KEY))
    assert (found.iss, found.claimed, found.kid) == (TD, False, "svid-1")
    # the CA's own check still wants an iss: an iss-less SVID never becomes a signing certificate
    with pytest.raises(TokenError) as exc:
        verifier.check(_svid(EC_KEY, aud="sigstore", iat=int(time.time())), found)
    assert exc.value.reason == "oidc-token-invalid"
    named = _resolve(verifier, _svid(EC_KEY, iss=TD))
    assert (named.iss, named.claimed) == (TD, True)


@pytest.mark.parametrize(
    "token,reason",
    [
        (lambda: _svid(EC_KEY, sub="spiffe://other.org/ns/prod/sa/app"), "oidc-unknown-issuer"),
        (lambda: _svid(EC_KEY, sub="system:serviceaccount:prod:app"), "oidc-unknown-issuer"),
        (lambda: _svid(EC_KEY, sub=None), "oidc-unknown-issuer"),
        (lambda: _svid(EC_KEY, iss=TD, sub="spiffe://other.org/app"), "oidc-token-invalid"),
        (lambda: _svid(EC_KEY, iss=TD, sub="spiffe://example.org/a/../b"), "oidc-token-invalid"),
        (lambda: _svid(EC_KEY, headers={"typ": "at+jwt"}), "oidc-token-malformed"),
        (lambda: _svid(EC_KEY, kid="nope"), "oidc-unknown-key"),
        (lambda: _svid(RSA_KEY, alg="RS256"), "oidc-algorithm-mismatch"),
    ],
)
def test_svids_refused_before_their_signature_is_checked(tmp_path: Path, token: Any, reason: str) -> None:
    verifier, _ = _verifier(tmp_path, {**_jwk(EC_KEY, "svid-1"), "alg": "ES256"})
    with pytest.raises(TokenError) as exc:
        _resolve(verifier, token())
    assert exc.value.reason == reason


def test_eddsa_is_no_svid_algorithm(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    ed = ed25519.Ed25519PrivateKey.generate()
    jwk = {**json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(ed.public_key())), "kid": "ed", "use": "jwt-svid"}
    verifier, _ = _verifier(tmp_path, jwk)
    with pytest.raises(TokenError) as exc:
        _resolve(verifier, _svid(ed, kid="ed", alg="EdDSA"))
    assert exc.value.reason == "oidc-bad-algorithm"


def test_a_changed_bundle_is_read_at_once_and_a_broken_one_refuses(tmp_path: Path) -> None:
    verifier, path = _verifier(tmp_path, _jwk(EC_KEY, "svid-1"))
    assert _resolve(verifier, _svid(EC_KEY)).kid == "svid-1"
    fetches = verifier.fetches
    _resolve(verifier, _svid(EC_KEY))
    assert verifier.fetches == fetches  # unchanged file: the cached keys
    new = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(_bundle(_jwk(new, "svid-2")))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a later mtime even on a coarse clock
    assert _resolve(verifier, _svid(new, kid="svid-2")).kid == "svid-2"
    with pytest.raises(TokenError) as exc:
        _resolve(verifier, _svid(EC_KEY))  # the old key is gone with the rotation
    assert exc.value.reason == "oidc-unknown-key"
    path.write_text('{"keys": "half-written')
    with pytest.raises(AssayError) as bad:
        _resolve(verifier, _svid(new, kid="svid-2"))
    assert bad.value.reason == "bad-jwks"
