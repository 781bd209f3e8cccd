from assay.checklist.manifests import check_admission
from assay.checklist.release import plan

POD_RULES = [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]


def _hook(api: str, **kw: object) -> dict:
    return {
        "apiVersion": api,
        "kind": "ValidatingWebhookConfiguration",
        "webhooks": [{"name": "w.x", "rules": POD_RULES, **kw}],
    }


def test_webhook_failure_policy_defaults_by_version() -> None:
    assert check_admission([("a", _hook("admissionregistration.k8s.io/v1"))]).enforcing
    # v1beta1 defaulted to Ignore: fails open
    found = check_admission([("a", _hook("admissionregistration.k8s.io/v1beta1"))])
    assert not found.enforcing and "failurePolicy Ignore" in found.weak[0]
    assert not check_admission([("a", _hook("admissionregistration.k8s.io/v1", failurePolicy="Ignore"))]).enforcing


def test_webhook_that_does_not_cover_workloads_is_ignored() -> None:
    rules = [{"operations": ["CREATE"], "resources": ["configmaps"]}]
    found = check_admission([("a", _hook("admissionregistration.k8s.io/v1", rules=rules))])
    assert not found.enforcing and not found.weak and found.documents == 1


def test_kyverno_actions() -> None:
    def pol(spec_action: str | None, rule_action: str | None) -> dict:
        vi: dict = {"imageReferences": ["*"]}
        if rule_action:
            vi["failureAction"] = rule_action
        spec: dict = {"rules": [{"name": "r", "verifyImages": [vi]}]}
        if spec_action:
            spec["validationFailureAction"] = spec_action
        return {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "p"}, "spec": spec}

    assert check_admission([("k", pol("Enforce", None))]).enforcing
    assert check_admission([("k", pol(None, "Enforce"))]).enforcing
    assert not check_admission([("k", pol(None, None))]).enforcing  # Kyverno's default is Audit
    assert not check_admission([("k", pol("Enforce", "Audit"))]).enforcing


def test_policy_controller_needs_an_included_namespace() -> None:
    cip = {
        "apiVersion": "policy.sigstore.dev/v1beta1",
        "kind": "ClusterImagePolicy",
        "metadata": {"name": "c"},
        "spec": {},
    }
    assert not check_admission([("c", cip)]).enforcing
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "prod", "labels": {"policy.sigstore.dev/include": "true"}},
    }
    assert check_admission([("c", cip), ("n", ns)]).enforcing
    warn = {**cip, "spec": {"mode": "warn"}}
    assert not check_admission([("c", warn), ("n", ns)]).enforcing


def test_release_plan() -> None:
    names = ["app", "app.sig", "SHA256SUMS", "SHA256SUMS.sig", "SHA256SUMS.pem", "b_checksums.txt",
             "b_checksums.txt.sigstore.json", "x.tar.gz", "x.tar.gz.sha256", "notes.asc"]  # fmt: skip
    lists, artifacts = plan(names)
    got = {s.name: (s.bundle, s.signature, s.certificate) for s in lists}
    assert got == {
        "SHA256SUMS": (None, "SHA256SUMS.sig", "SHA256SUMS.pem"),
        "b_checksums.txt": ("b_checksums.txt.sigstore.json", None, None),
        "x.tar.gz.sha256": (None, None, None),
    }
    assert artifacts == ["app", "x.tar.gz"]
