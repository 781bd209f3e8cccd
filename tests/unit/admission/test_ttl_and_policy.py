"""Verdict TTLs never outlive a certificate or an attestation maxAge; the admission fields of a Policy."""

from __future__ import annotations

import datetime
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from assay.admission.check import _age, _ttl
from assay.admission.policyset import load, namespace_applies
from assay.errors import InputError
from assay.formats.bundle import Bundle
from assay.policy.evaluate import Check, Evaluation, RuleResult
from assay.policy.materials import Material, Target
from assay.policy.model import Authorities, Policy, Rule
from assay.verify.model import Artifact

NOW = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _policy(max_age: timedelta | None) -> Policy:
    rule = Rule("r", "attestation", Authorities(), 1, max_age=max_age)
    return Policy("p", "p.yaml", "0" * 64, b"", "enforce", ("**",), (), (), (), None, None, [rule])


def _cert(not_after: datetime.datetime) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signer")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(not_after - timedelta(minutes=10)).not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.DER)


def _evaluation(policy: Policy, checks: list[Check], certs: tuple[bytes, ...] = ()) -> Evaluation:
    bundle = Bundle("application/vnd.dev.sigstore.bundle.v0.3+json", (0, 3), certificates=certs)
    material = Material(bundle, Artifact(b"\0" * 32), "here", b"")
    res = RuleResult("r", "attestation", "pass", checks=checks, inputs=[material])
    return Evaluation(policy, Target("image", "i", "i", None, ""), True, [res])


@pytest.mark.parametrize(("text", "age"), [("0:10:00", timedelta(minutes=10)), ("2 days, 1:00:05", timedelta(days=2, hours=1, seconds=5)), ("1 day, 0:00:00", timedelta(days=1)), ("soon", None)])  # fmt: skip
def test_age_parsing(text: str, age: timedelta | None):
    assert _age(text) == age


def test_ttl_is_capped_by_the_remaining_max_age():
    policy = _policy(timedelta(hours=1))
    ev = _evaluation(policy, [Check("age", "<= 1:00:00", "0:50:00")])
    assert _ttl(policy, ev, 3600, NOW) == 600
    assert _ttl(policy, _evaluation(policy, [Check("age", "<= 1:00:00", "0:01:00")]), 300, NOW) == 300


def test_ttl_is_capped_by_a_certificate_still_valid():
    policy = _policy(None)
    assert _ttl(policy, _evaluation(policy, [], (_cert(NOW + timedelta(seconds=90)),)), 300, NOW) == 90
    # an expired certificate (the signature was verified with a timestamp): no cap
    assert _ttl(policy, _evaluation(policy, [], (_cert(NOW - timedelta(minutes=5)),)), 300, NOW) == 300


POLICY = """apiVersion: assay.dev/v1
kind: Policy
metadata: {{name: {name}}}
spec:
  mode: {mode}
{extra}  match:
    images: ["r.example/**"]
{match}  require:
    - name: signed
      signature: {{authorities: {{keyless: [{{issuer: "https://issuer.example"}}]}}}}
"""


def _write(tmp: Path, file: str, name: str = "p", mode: str = "enforce", match: str = "", extra: str = "") -> Path:
    (tmp / file).write_text(POLICY.format(name=name, mode=mode, match=match, extra=extra))
    return tmp / file


def test_namespace_fields_mode_and_failure_policy(tmp_path: Path):
    _write(tmp_path, "a.yaml", "a", "allow-unmatched", "    namespaces: ['team-*']\n    namespaceSelector:\n      matchExpressions: [{key: env, operator: In, values: [prod]}]\n", "  failurePolicy: fail-open\n")  # fmt: skip
    _write(tmp_path, "b.yaml", "b")
    (tmp_path / "notes.txt").write_text("ignored")
    ps = load([str(tmp_path)])
    a, b = ps.policies
    assert a.mode == "allow-unmatched" and a.failure_policy == "fail-open" and b.failure_policy == "fail-closed"
    assert namespace_applies(a, "team-x", {"env": "prod"})
    assert not namespace_applies(a, "team-x", {"env": "dev"}) and not namespace_applies(a, "other", {"env": "prod"})
    assert namespace_applies(b, "anything", {})
    assert ps.is_excluded("kube-system") and not ps.is_excluded("default")


@pytest.mark.parametrize(
    ("match", "extra", "reason"),
    [
        ("    namespaceSelector:\n      matchLabels: {env: 3}\n", "", "policy-invalid"),
        ("    namespaceSelector:\n      matchExpressions: [{key: env, operator: Near}]\n", "", "policy-invalid"),
        ("    namespaceSelector:\n      labels: {}\n", "", "policy-unknown-key"),
        ("", "  failurePolicy: sometimes\n", "policy-invalid"),
    ],
)
def test_bad_admission_fields_are_refused(tmp_path: Path, match: str, extra: str, reason: str):
    _write(tmp_path, "p.yaml", match=match, extra=extra)
    with pytest.raises(InputError) as exc:
        load([str(tmp_path / "p.yaml")])
    assert exc.value.reason == reason


def test_policy_set_errors(tmp_path: Path):
    with pytest.raises(InputError) as exc:
        load([str(tmp_path / "missing")])
    assert exc.value.reason == "file-not-found"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as exc:
        load([str(tmp_path / "empty")])
    assert exc.value.reason == "policy-set-empty"
    _write(tmp_path, "a.yaml", "same")
    _write(tmp_path, "b.yaml", "same")
    with pytest.raises(InputError) as exc:
        load([str(tmp_path)])
    assert exc.value.reason == "policy-set-invalid"
