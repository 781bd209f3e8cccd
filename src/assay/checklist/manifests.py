"""Does a set of Kubernetes manifests enforce signatures at admission? (pure: parsed YAML documents in).

Recognised enforcers, each with the setting that decides whether it blocks or only reports:
- assay's own webhooks (``assay admission install``: names ending ``.assay.dev``) and any
  Validating/MutatingWebhookConfiguration: ``failurePolicy`` (``Fail`` blocks; the v1 default is ``Fail``,
  v1beta1's was ``Ignore``), and rules that cover pod-creating resources on CREATE;
- Kyverno ``ClusterPolicy``/``Policy`` rules with ``verifyImages``: ``validationFailureAction`` or a rule's
  ``failureAction`` (``Enforce`` blocks; Kyverno's default is ``Audit``);
- Sigstore policy-controller ``ClusterImagePolicy``: ``spec.mode`` (``enforce``, the default, blocks; ``warn``
  does not); it applies only to namespaces labelled ``policy.sigstore.dev/include: "true"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_WORKLOADS = {"pods", "deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs", "*"}


@dataclass
class AdmissionFindings:
    """What the manifests say: enforcing and non-enforcing configurations, each with where it was seen."""

    enforcing: list[str] = field(default_factory=list)
    weak: list[str] = field(default_factory=list)
    documents: int = 0


def _covers_workloads(rules: Any) -> bool:
    for r in rules if isinstance(rules, list) else []:
        if not isinstance(r, dict):
            continue
        ops = {str(o).upper() for o in r.get("operations") or []}
        res = {str(x).split("/")[0] for x in r.get("resources") or []}
        if ops & {"CREATE", "*"} and res & _WORKLOADS:
            return True
    return False


def _webhooks(doc: dict[str, Any], where: str, out: AdmissionFindings) -> None:
    v1beta1 = str(doc.get("apiVersion", "")).endswith("v1beta1")
    for hook in doc.get("webhooks") or []:
        if not isinstance(hook, dict):
            continue
        name = str(hook.get("name", "?"))
        if not _covers_workloads(hook.get("rules")):
            continue
        policy = str(hook.get("failurePolicy") or ("Ignore" if v1beta1 else "Fail"))
        label = f"{where}: {doc['kind']} webhook {name} (failurePolicy {policy})"
        (out.enforcing if policy == "Fail" else out.weak).append(label)


def _kyverno(doc: dict[str, Any], where: str, out: AdmissionFindings) -> None:
    spec: dict[str, Any] = doc["spec"] if isinstance(doc.get("spec"), dict) else {}
    default = str(spec.get("validationFailureAction") or "Audit")
    name = (doc.get("metadata") or {}).get("name", "?")
    for rule in spec.get("rules") or []:
        if not isinstance(rule, dict) or not rule.get("verifyImages"):
            continue
        actions = {str(v.get("failureAction") or default) for v in rule["verifyImages"] if isinstance(v, dict)}
        action = (
            "Enforce"
            if actions and all(a.lower() == "enforce" for a in actions)
            else (actions.pop() if actions else default)
        )
        label = f"{where}: Kyverno {doc['kind']} {name} rule {rule.get('name', '?')} ({action})"
        (out.enforcing if action.lower() == "enforce" else out.weak).append(label)


def _policy_controller(doc: dict[str, Any], where: str, out: AdmissionFindings, included: list[str]) -> None:
    spec: dict[str, Any] = doc["spec"] if isinstance(doc.get("spec"), dict) else {}
    mode = str(spec.get("mode") or "enforce")
    name = (doc.get("metadata") or {}).get("name", "?")
    scope = f"namespaces {', '.join(included)}" if included else "no namespace labelled policy.sigstore.dev/include"
    label = f"{where}: ClusterImagePolicy {name} (mode {mode}; {scope})"
    (out.enforcing if mode == "enforce" and included else out.weak).append(label)


def check_admission(documents: list[tuple[str, Any]]) -> AdmissionFindings:
    """Classify every admission configuration among ``(where, document)`` pairs."""
    out = AdmissionFindings()
    docs = [(w, d) for w, d in documents if isinstance(d, dict) and isinstance(d.get("kind"), str)]
    out.documents = len(docs)
    included = [
        str((d.get("metadata") or {}).get("name"))
        for _, d in docs
        if d["kind"] == "Namespace"
        and str(((d.get("metadata") or {}).get("labels") or {}).get("policy.sigstore.dev/include")) == "true"
    ]
    for where, d in docs:
        api = str(d.get("apiVersion", ""))
        if d["kind"] in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            _webhooks(d, where, out)
        elif d["kind"] in ("ClusterPolicy", "Policy") and api.startswith("kyverno.io/"):
            _kyverno(d, where, out)
        elif d["kind"] == "ClusterImagePolicy" and api.startswith("policy.sigstore.dev/"):
            _policy_controller(d, where, out, included)
    return out
