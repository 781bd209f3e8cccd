"""Registry token claims, the libtrust key id, refresh tokens, the push rule and the mint rule for them."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from assay.access.errors import AccessError
from assay.access.mint import Maker, mint
from assay.errors import InputError
from assay.registry import pushpolicy, signing
from assay.registry.scope import Scope
from assay.registry.token import TokenKey, claims, libtrust_kid, read_refresh, refresh_claims, sign


def test_libtrust_kid_is_base32_of_240_bits_in_groups_of_four() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    kid = libtrust_kid(key.public_key())
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    groups = kid.split(":")
    assert len(groups) == 12 and all(len(g) == 4 for g in groups)
    assert base64.b32decode("".join(groups)) == hashlib.sha256(der).digest()[:30]
    assert libtrust_kid(ec.generate_private_key(ec.SECP256R1()).public_key()) != kid


def test_signed_claims_verify_with_the_certificate_and_name_the_kid(tmp_path: Path) -> None:
    for alg in ("ES256", "RS256"):
        key = signing.token_key(tmp_path, alg)
        assert key.alg == alg
        cert = x509.load_pem_x509_certificate(signing.certificate_pem(tmp_path, alg))
        assert libtrust_kid(cert.public_key()) == key.kid
        now = int(time.time())
        body = claims(
            issuer="http://assay", subject="ci", service="reg", access=[Scope("repository", "a/b", ("pull",))],
            issued=now, expires=now + 300,
        )  # fmt: skip
        token = sign(key, body)
        assert jwt.get_unverified_header(token) == {"alg": alg, "kid": key.kid, "typ": "JWT"}
        got = jwt.decode(token, cert.public_key(), algorithms=[alg], audience="reg", issuer="http://assay")
        assert got["access"] == [{"type": "repository", "name": "a/b", "actions": ["pull"]}]
        assert got["nbf"] <= got["iat"] < got["exp"] and got["jti"]
    assert signing.token_key(tmp_path).kid == signing.token_key(tmp_path).kid, "the key is kept"
    with pytest.raises(InputError) as exc:
        signing.token_key(tmp_path, "HS256")
    assert exc.value.reason == "bad-registry-token-alg"
    with pytest.raises(InputError):
        TokenKey.of(ed25519.Ed25519PrivateKey.generate())


def test_refresh_tokens_are_for_one_service_and_cannot_be_forged(tmp_path: Path) -> None:
    key = signing.token_key(tmp_path)
    now = int(time.time())
    body = refresh_claims(
        issuer="http://assay", subject="ci", service="reg", kind="token", credential="abc", issued=now,
        expires=now + 60,
    )  # fmt: skip
    token = sign(key, body)
    assert read_refresh(key, token, issuer="http://assay", service="reg")["assay_cred"] == {
        "kind": "token",
        "id": "abc",
    }
    for bad, reason in (
        (token, "refresh-token-invalid"),  # other service below
        (sign(key, {**body, "exp": now - 3600}), "refresh-token-expired"),
        (sign(key, {**body, "typ": "other"}), "refresh-token-invalid"),
        (sign(TokenKey.of(ec.generate_private_key(ec.SECP256R1())), body), "refresh-token-invalid"),
        ("not.a.jwt", "refresh-token-invalid"),
    ):
        with pytest.raises(InputError) as exc:
            read_refresh(key, bad, issuer="http://assay", service="other" if bad is token else "reg")
        assert exc.value.reason == reason
    registry_access = sign(
        key, claims(issuer="http://assay", subject="ci", service="reg", access=[], issued=now, expires=now + 60)
    )
    with pytest.raises(InputError):
        read_refresh(key, registry_access, issuer="http://assay", service="reg")


def test_auth_config_block_and_services(tmp_path: Path) -> None:
    block = signing.auth_config(realm="http://h:1/v2/token", service="reg", issuer="http://h:1", bundle="/b.pem")
    assert block.splitlines() == [
        "auth:", "  token:", '    realm: "http://h:1/v2/token"', '    service: "reg"', '    issuer: "http://h:1"',
        '    rootcertbundle: "/b.pem"',
    ]  # fmt: skip
    signing.add_service(tmp_path, "reg")
    signing.add_service(tmp_path, "reg")
    signing.add_service(tmp_path, "other")
    assert signing.configured_services(tmp_path) == {"reg", "other"}
    for bad in ("", "a b", 'a"b', "x" * 256, "a\nb"):
        with pytest.raises(InputError):
            signing.check_service_name(bad)


GH = "https://token.actions.githubusercontent.com"
CLAIMS = {
    "repository": "myorg/myapp",
    "ref": "refs/heads/main",
    "workflow": "release.yml",
    "job_workflow_ref": "myorg/myapp/.github/workflows/release.yml@refs/heads/main",
}


def test_ci_only_rules_match_issuer_and_claims() -> None:
    policy = pushpolicy.parse(
        {"push": "ci-only", "rules": [{"issuer": GH, "repository": "myorg/*", "ref": "refs/heads/main",
                                        "workflow": ".github/workflows/release.yml"}]}
    )  # fmt: skip
    assert pushpolicy.push_refusal(policy, "oidc", GH, CLAIMS) is None
    assert pushpolicy.push_refusal(policy, "oidc", GH + "/", CLAIMS) is None
    assert pushpolicy.push_refusal(policy, "token", GH, None) == "push-ci-only"
    assert pushpolicy.push_refusal(policy, "session", GH, CLAIMS) == "push-ci-only", "humans too"
    for changed in (
        {"ref": "refs/heads/dev"},
        {"repository": "other/app"},
        {"job_workflow_ref": "myorg/myapp/x.yml@r", "workflow": "x.yml"},
    ):
        assert pushpolicy.push_refusal(policy, "oidc", GH, {**CLAIMS, **changed}) == "push-rule-mismatch"
    assert pushpolicy.push_refusal(policy, "oidc", "https://gitlab.com", CLAIMS) == "push-rule-mismatch"
    assert pushpolicy.push_refusal(pushpolicy.PushPolicy(), "token", "", None) is None
    by_name = pushpolicy.parse({"push": "ci-only", "rules": [{"issuer": GH, "workflow": "release.yml"}]})
    assert pushpolicy.push_refusal(by_name, "oidc", GH, CLAIMS) is None
    gitlab = pushpolicy.parse(
        {"push": "ci-only", "rules": [{"issuer": "https://gitlab.com", "repository": "grp/proj"}]}
    )
    assert pushpolicy.push_refusal(gitlab, "oidc", "https://gitlab.com", {"project_path": "grp/proj"}) is None


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"push": "sometimes"},
        {"push": "any", "rules": [{"issuer": GH}]},
        {"push": "ci-only", "rules": "x"},
        {"push": "ci-only", "rules": [{}]},
        {"push": "ci-only", "rules": [{"repository": "a/b"}]},
        {"push": "ci-only", "rules": [{"issuer": "not-a-url"}]},
        {"push": "ci-only", "rules": [{"issuer": GH, "branch": "main"}]},
        {"push": "ci-only", "rules": [{"issuer": GH, "ref": 3}]},
        {"push": "ci-only", "rules": [{"issuer": GH}] * 65},
        {"push": "ci-only", "extra": 1},
    ],
)
def test_bad_push_policies(doc: object) -> None:
    with pytest.raises(InputError) as exc:
        pushpolicy.parse(doc)
    assert exc.value.reason == "bad-push-policy"


def test_rule_from_text() -> None:
    assert pushpolicy.rule_from_text(f"issuer={GH}/,repository=a/b") == {"issuer": GH, "repository": "a/b"}
    for bad in ("issuer", f"issuer={GH},ref", "repository=a/b"):
        with pytest.raises(InputError):
            pushpolicy.rule_from_text(bad)


def test_mint_registry_tokens_never_outrank_or_outlive_their_maker() -> None:
    now = 1000
    got = mint("registry-token", Maker("token", "t1", "publisher", now + 60), role="publisher", lifetime=300, now=now)
    assert got.expires == now + 60 and got.parent == "t1"
    with pytest.raises(AccessError) as exc:
        mint("registry-token", Maker("token", "t1", "viewer"), role="publisher", lifetime=300, now=now)
    assert exc.value.reason == "role-above-own"
    anon = mint("registry-token", Maker("anonymous", "anonymous"), role=None, lifetime=300, now=now)
    assert anon.role is None and anon.expires == now + 300
    with pytest.raises(AccessError):
        mint("registry-token", Maker("anonymous", "anonymous"), role="viewer", lifetime=300, now=now)
    ci = mint(
        "registry-token", Maker("identity", "oidc:x", "publisher", now + 30), role="publisher", lifetime=300, now=now
    )
    assert ci.expires == now + 30
    with pytest.raises(InputError):
        mint("registry-token", Maker("session", "s", "admin"), role="admin", lifetime=7200, now=now)
    refresh = mint("registry-refresh", Maker("session", "s1", None, now + 99), role=None, lifetime=None, now=now)
    assert refresh.expires == now + 99 and refresh.parent == "s1"
    with pytest.raises(AccessError):
        mint("registry-refresh", Maker("identity", "oidc:x"), role=None, lifetime=None, now=now)


def test_x5c_names_the_bundle_certificate(tmp_path: Path) -> None:
    key = signing.with_x5c(signing.token_key(tmp_path), tmp_path)
    token = sign(key, {"iss": "i"})
    header = jwt.get_unverified_header(token)
    der = base64.b64decode(header["x5c"][0])
    assert x509.load_der_x509_certificate(der) == x509.load_pem_x509_certificate(signing.certificate_pem(tmp_path))
    assert "x5c" not in jwt.get_unverified_header(sign(signing.token_key(tmp_path), {"iss": "i"}))
