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


K8S = {"iss": "https://kubernetes.default.svc.cluster.local", "sub": "system:serviceaccount:prod:app",
       "aud": ["assay-broker"], "kubernetes.io": {"namespace": "prod", "serviceaccount": {"name": "app", "uid": "u1"},
                                                 "pod": {"name": "app-7d9", "uid": "u2"}}}  # fmt: skip


def _k8s_rule(**over: object) -> bytes:
    rule = {"name": "k8s", "issuer": K8S["iss"], "subjectRegexp": "^system:serviceaccount:prod:.*$",
            "audience": "assay-broker", **over}  # fmt: skip
    return json.dumps({"rules": [rule]}).encode()


def test_nested_claims_match_as_subsets() -> None:
    p = policy.parse(_k8s_rule(claims={"kubernetes.io": {"namespace": "prod", "serviceaccount": {"name": "app"}}}))
    assert p.decide(K8S, 1e9).granted
    for inner, words in [
        ({"namespace": "dev", "serviceaccount": {"name": "app", "uid": "u1"}}, "kubernetes.io.namespace is 'dev'"),
        ({"namespace": "prod", "serviceaccount": {"name": "other"}}, "kubernetes.io.serviceaccount.name"),
        ({"namespace": "prod", "serviceaccount": "app"}, "kubernetes.io.serviceaccount is 'app', not an object"),
        ({"serviceaccount": {"name": "app"}}, "kubernetes.io.namespace is None"),
    ]:
        d = p.decide({**K8S, "kubernetes.io": inner}, 1e9)
        assert not d.granted and d.code() == "policy-claim" and words in d.reason(), (inner, d.reason())
    d = p.decide({k: v for k, v in K8S.items() if k != "kubernetes.io"}, 1e9)
    assert d.code() == "policy-claim" and "not an object" in d.reason()


def test_scalar_claims_keep_strict_equality() -> None:
    p = policy.parse(_k8s_rule(claims={"ready": True, "tags": ["a", "b"]}))
    assert p.decide({**K8S, "ready": True, "tags": ["a", "b"]}, 1e9).granted
    for change in ({"ready": 1}, {"ready": "true"}, {"tags": ["a"]}, {"tags": ["a", "b", "c"]}):
        assert p.decide({**K8S, "ready": True, "tags": ["a", "b"], **change}, 1e9).code() == "policy-claim", change


def test_cel_reads_nested_kubernetes_claims() -> None:
    cond = 'claims["kubernetes.io"].namespace == "prod" && claims["kubernetes.io"].serviceaccount.name == "app"'
    p = policy.parse(_k8s_rule(condition=cond))
    assert p.decide(K8S, 1e9).granted
    d = p.decide({**K8S, "kubernetes.io": {**K8S["kubernetes.io"], "namespace": "dev"}}, 1e9)  # type: ignore[dict-item]
    assert d.code() == "policy-condition"
