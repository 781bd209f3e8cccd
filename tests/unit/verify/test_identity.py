import base64
import json

import pytest
from cryptography import x509

from assay.errors import InputError, VerificationError
from assay.verify.fulcio import claims, der_string
from assay.verify.identity import IdentityPolicy, claim_name
from tests.conftest import CONFORMANCE

ID = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
ISS = "https://token.actions.githubusercontent.com"


@pytest.fixture(scope="module")
def cert_claims() -> dict[str, str]:
    b = json.loads((CONFORMANCE / "bundle-verify" / "happy-path-v0.3" / "bundle.sigstore.json").read_text())
    cert = x509.load_der_x509_certificate(base64.b64decode(b["verificationMaterial"]["certificate"]["rawBytes"]))
    return claims(cert)


def test_fulcio_claims_are_named(cert_claims):
    assert cert_claims["subject"] == ID
    assert cert_claims["issuer"] == ISS
    assert (
        cert_claims["sourceRepositoryURI"]
        == "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon"
    )
    assert cert_claims["sourceRepositoryRef"] == "refs/heads/main"
    assert cert_claims["runnerEnvironment"] == "github-hosted"
    assert cert_claims["buildTrigger"] == "workflow_dispatch"
    assert cert_claims["githubWorkflowTrigger"] == "workflow_dispatch"  # deprecated .1.2, raw bytes
    assert cert_claims["sourceRepositoryVisibilityAtSigning"] == "public"


def test_exact_and_regexp_match(cert_claims):
    assert IdentityPolicy(ID, None, ISS).check(cert_claims)
    assert IdentityPolicy(
        None, r"https://github\.com/sigstore-conformance/.*@refs/heads/main", None, r"https://token\.actions\..*"
    ).check(cert_claims)
    ext = (("sourceRepositoryRef", "refs/heads/main"), ("runnerEnvironment", "github-hosted"))
    assert IdentityPolicy(ID, None, ISS, None, ext).check(cert_claims)


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        (IdentityPolicy("someone@example.com", None, ISS), "identity-mismatch"),
        (IdentityPolicy(None, "sigstore-conformance", None, ISS), "identity-mismatch"),  # unanchored would pass
        (IdentityPolicy(ID, None, "https://accounts.google.com"), "issuer-mismatch"),
        (IdentityPolicy(ID, None, None, r"https://token\.actions"), "issuer-mismatch"),
        (IdentityPolicy(ID, None, ISS, None, (("sourceRepositoryRef", "refs/heads/evil"),)), "extension-mismatch"),
        (IdentityPolicy(ID, None, ISS, None, (("deploymentEnvironment", "prod"),)), "extension-mismatch"),
    ],
)
def test_mismatches(cert_claims, policy, reason):
    with pytest.raises(VerificationError) as exc:
        policy.check(cert_claims)
    assert exc.value.reason == reason and exc.value.step == "identity"


def test_policy_needs_identity_and_issuer():
    with pytest.raises(InputError):
        IdentityPolicy(ID, None, None)
    with pytest.raises(InputError):
        IdentityPolicy(None, None, ISS)
    with pytest.raises(InputError) as exc:
        IdentityPolicy(None, "(", ISS)
    assert exc.value.reason == "bad-regexp"


def test_claim_names_and_oids():
    assert claim_name("1.3.6.1.4.1.57264.1.12") == "sourceRepositoryURI"
    assert claim_name("sourcerepositoryref") == "sourceRepositoryRef"
    with pytest.raises(InputError):
        claim_name("1.2.3")


def test_der_string_decoding():
    assert der_string(b"\x0c\x03abc") == "abc"
    assert der_string(b"\x0c\x81\x80" + b"a" * 128) == "a" * 128
    assert der_string(b"\x0c\x05abc") is None
    assert der_string(b"\x04\x03abc") is None


@pytest.mark.parametrize(
    "pattern",
    [r"(a+)+$", r"(a*b?)*", r"(\w+\s?)*@x\.com", r"(.*a){20}", r"((ab)*c)+", r"(x)\1*", "a" * 1025],
)
def test_patterns_that_can_backtrack_exponentially_are_refused(pattern: str) -> None:
    with pytest.raises(InputError) as exc:
        IdentityPolicy(identity_regexp=pattern, issuer="https://issuer.example")
    assert exc.value.reason == "identity-regexp-unsafe"
    with pytest.raises(InputError) as exc:
        IdentityPolicy(identity="a@example.com", issuer_regexp=pattern)
    assert exc.value.reason == "identity-regexp-unsafe"


@pytest.mark.parametrize(
    "pattern",
    [
        r"https://github\.com/acme/.*",
        r".*@example\.com",
        r"^(foo|bar)@x\.com$",
        r"https://github\.com/[^/]+/[^/]+/\.github/workflows/.+@refs/(heads|tags)/.+",
        r"(ab){3}",
        r"[a-z]{2,8}@(corp|example)\.com",
    ],
)
def test_ordinary_patterns_are_kept(pattern: str) -> None:
    IdentityPolicy(identity_regexp=pattern, issuer_regexp=r"https://(token\.actions\.githubusercontent|gitlab)\.com")
