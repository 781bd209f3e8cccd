"""Decryption policies: parsing refusals and pure decisions naming the failed rule."""

from __future__ import annotations

import json

import pytest

from assay.broker import policy
from assay.errors import AssayError

DOC = {
    "rules": [
        {
            "name": "ci",
            "issuer": "https://issuer.example",
            "subjectRegexp": "^repo:org/.*$",
            "audience": "assay-broker",
            "claims": {"repository": "org/app"},
            "condition": "claims.ref == 'refs/heads/main'",
            "notAfter": "2999-01-01T00:00:00Z",
        }
    ]
}
GOOD = {"iss": "https://issuer.example", "sub": "repo:org/app", "aud": "assay-broker", "repository": "org/app",
        "ref": "refs/heads/main"}  # fmt: skip


def test_grant_and_each_refusal_names_the_rule() -> None:
    p = policy.parse(json.dumps(DOC).encode())
    assert p.decide(GOOD, 1e9).granted
    for change, word, code in [({"aud": "other"}, "audience", "policy-audience"),
                               ({"sub": "repo:evil/x"}, "subject", "policy-subject"),
                               ({"repository": "org/other"}, "claim repository", "policy-claim"),
                               ({"ref": "dev"}, "condition", "policy-condition"),
                               ({"iss": "https://evil"}, "issuer", "policy-issuer")]:  # fmt: skip
        d = p.decide({**GOOD, **change}, 1e9)
        assert not d.granted and d.reason().startswith("rule ci:") and word in d.reason()
        assert d.code() == code and d.failed_rules() == ["ci"]
    late = p.decide(GOOD, 4e10)
    assert "notAfter" in late.reason() and late.code() == "policy-time-window"


def test_rules_failing_differently_give_the_generic_code() -> None:
    two = {"rules": [DOC["rules"][0], {**DOC["rules"][0], "name": "other", "audience": "x"}]}
    d = policy.parse(json.dumps(two).encode()).decide({**GOOD, "ref": "dev"}, 1e9)
    assert d.code() == "policy-refused" and d.failed_rules() == ["ci", "other"]


@pytest.mark.parametrize(
    "doc",
    [{}, {"rules": []}, {"rules": [{"name": "x"}]}, {"rules": [{**DOC["rules"][0], "condition": "(("}]}, {"x": 1}],
)
def test_bad_policies(doc: dict) -> None:
    with pytest.raises(AssayError) as exc:
        policy.parse(json.dumps(doc).encode())
    assert exc.value.reason == "broker-policy-invalid"


def test_attestation_rules_check_signer_type_and_platform_claims() -> None:
    doc = {"rules": [{"name": "tee", "attester": "key:abc", "predicateType": "https://t",
                      "condition": "platform.tee == 'sev-snp' && platform.measurement == 'm1'"}]}  # fmt: skip
    p = policy.parse(json.dumps(doc).encode())
    good = {"signer": "key:abc", "predicateType": "https://t", "claims": {"tee": "sev-snp", "measurement": "m1"}}
    assert p.decide({}, 1e9, good).granted
    for platform, code in [
        (None, "policy-attestation-missing"),
        ({**good, "signer": "key:other"}, "policy-attester"),
        ({**good, "predicateType": "https://other"}, "policy-attestation-type"),
        ({**good, "claims": {"tee": "none", "measurement": "m1"}}, "policy-condition"),
    ]:
        d = p.decide({}, 1e9, platform)
        assert not d.granted and d.code() == code, (platform, d.reason())
    both = {"rules": [{**DOC["rules"][0], "attester": "key:abc"}]}
    d = policy.parse(json.dumps(both).encode()).decide(GOOD, 1e9, None)
    assert d.code() == "policy-attestation-missing"
    assert policy.parse(json.dumps(both).encode()).decide(GOOD, 1e9, good).granted
    with pytest.raises(AssayError) as exc:
        policy.parse(json.dumps({"rules": [{"name": "x", "attester": ""}]}).encode())
    assert exc.value.reason == "broker-policy-invalid"
