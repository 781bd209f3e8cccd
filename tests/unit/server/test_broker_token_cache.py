"""Workload tokens the broker verified are remembered, never beyond their key or their lifetime.

The verifier is real (a P-256 issuer key served as a local JWKS); only the clock is moved.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.ca.oidc import IssuerConfig, TokenVerifier, jwk_of
from assay.errors import AssayError
from assay.server import routes_broker

ISS = "https://workloads.example"


def _issuer() -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any]]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, jwk_of(pem, "k1")


def _token(key: ec.EllipticCurvePrivateKey, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISS, "sub": "system:serviceaccount:prod:app", "aud": "assay-broker", "iat": now, "exp": now + 600}
    return jwt.encode({**body, **claims}, key, algorithm="ES256", headers={"kid": "k1"})


def _request(verifier: TokenVerifier) -> Any:
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(tokens=verifier)))


def _verify(verifier: TokenVerifier, token: str) -> dict[str, Any]:
    return asyncio.run(routes_broker._verify_token(_request(verifier), token))


def test_a_verified_token_is_remembered_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    key, jwk = _issuer()
    verifier = TokenVerifier({ISS: IssuerConfig(ISS, "uri")}, local_jwks={ISS: lambda: {"keys": [jwk]}})
    token = _token(key)
    assert verifier.remembered(token) is None
    assert _verify(verifier, token)["sub"] == "system:serviceaccount:prod:app"
    assert verifier.remembered(token) is not None
    # a different token (one character changed in the signature) is verified afresh and refused
    forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(AssayError) as exc:
        _verify(verifier, forged)
    assert exc.value.reason == "evidence-invalid"
    # the clock passes exp (beyond the skew): the remembered token is refused as a fresh one would be
    later = time.time() + 600 + routes_broker.TOKEN_SKEW + 1
    monkeypatch.setattr(routes_broker.time, "time", lambda: later)
    with pytest.raises(AssayError) as exc:
        _verify(verifier, token)
    assert exc.value.reason == "evidence-expired"


def test_a_key_rotation_forgets_what_the_old_key_verified() -> None:
    key, jwk = _issuer()
    served = {"keys": [jwk]}
    verifier = TokenVerifier({ISS: IssuerConfig(ISS, "uri")}, local_jwks={ISS: lambda: served})
    token = _token(key)
    _verify(verifier, token)
    assert verifier.remembered(token) is not None
    _, other = _issuer()  # the issuer rotates: same kid, another key
    served["keys"] = [other]
    asyncio.run(verifier._refetch(ISS))
    assert verifier.remembered(token) is None
    with pytest.raises(AssayError) as exc:
        _verify(verifier, token)
    assert exc.value.reason == "evidence-invalid"


def test_an_iss_less_svid_is_remembered_under_its_trust_domain(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from assay.ca import jwks_file

    td = "spiffe://example.org"
    key, jwk = _issuer()
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps({"spiffe_sequence": 1, "keys": [{**jwk, "use": "jwt-svid"}]}))
    verifier = TokenVerifier({td: IssuerConfig(td, "uri")}, local_jwks={td: jwks_file.JwksFile(path, True)})
    now = int(time.time())
    body = {"sub": td + "/ns/prod/sa/app", "aud": "assay-broker", "exp": now + 600}  # no iss, no iat
    token = jwt.encode(body, key, algorithm="ES256", headers={"kid": "k1"})
    assert _verify(verifier, token)["iss"] == td
    assert verifier.remembered(token) == {**body, "iss": td}
    assert _verify(verifier, token)["iss"] == td
    later = time.time() + 600 + routes_broker.TOKEN_SKEW + 1
    monkeypatch.setattr(routes_broker.time, "time", lambda: later)
    with pytest.raises(AssayError) as exc:
        _verify(verifier, token)
    assert exc.value.reason == "evidence-expired"
    monkeypatch.undo()
    for claims in ({"aud": None}, {"aud": []}, {"aud": [""]}, {"iat": now + 3600}, {"iat": "soon"}):
        bad = jwt.encode({**body, **claims}, key, algorithm="ES256", headers={"kid": "k1"})
        with pytest.raises(AssayError) as exc:
            _verify(verifier, bad)
        assert exc.value.reason == "evidence-invalid", claims
