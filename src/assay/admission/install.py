"""The Kubernetes objects that run the webhook: ``assay admission install`` prints them as YAML.

Namespace, Secret (TLS), ServiceAccount with read access to namespaces (their
labels, for ``namespaceSelector``), ConfigMap (policies), Deployment,
Service, ValidatingWebhookConfiguration and MutatingWebhookConfiguration —
``sideEffects: None``, ``admissionReviewVersions: [v1]``, ``timeoutSeconds:
10``, ``failurePolicy: Fail``, ``reinvocationPolicy: IfNeeded`` and a
namespaceSelector that leaves out the webhook's own namespace (and the
excluded ones). ``generate_cert`` makes a CA and a serving certificate for
``SERVICE.NAMESPACE.svc``.
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import InputError

WORKLOAD_RULES = [
    {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods", "pods/ephemeralcontainers", "replicationcontrollers"]},
    {"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"]},
    {"apiGroups": ["batch"], "apiVersions": ["v1"], "resources": ["jobs", "cronjobs"]},
]  # fmt: skip
PORT = 8443


@dataclass
class Tls:
    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes


def generate_cert(service: str, namespace: str, days: int = 365, client: bool = False) -> Tls:
    """A self-signed CA and a P-256 serving certificate for the Service's DNS names (``client``: a client
    certificate instead, e.g. for the apiserver when the webhook requires one)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"assay admission CA ({namespace})")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    dns = [service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns[2])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return Tls(
        cert.public_bytes(pem),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        ca.public_bytes(pem),
    )


def read_tls(cert: str, key: str, ca: str | None) -> Tls:
    """TLS material from files (the CA bundle defaults to the certificate itself)."""
    try:
        c, k = Path(cert).read_bytes(), Path(key).read_bytes()
        return Tls(c, k, Path(ca).read_bytes() if ca else c)
    except OSError as exc:
        raise InputError("file-not-found", f"{exc.filename}: {exc.strerror}") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class InstallSpec:
    namespace: str
    service: str
    tls: Tls
    image: str
    policies: dict[str, str] = field(default_factory=dict)  # file name -> text
    excluded: tuple[str, ...] = ("kube-system",)
    replicas: int = 2
    cache: str | None = None
    extra_args: list[str] = field(default_factory=list)


def _webhook(spec: InstallSpec, name: str, path: str, mutating: bool) -> dict[str, Any]:
    hook: dict[str, Any] = {
        "name": f"{name}.{spec.service}.{spec.namespace}.assay.dev",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "timeoutSeconds": 10,
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "clientConfig": {
            "service": {"namespace": spec.namespace, "name": spec.service, "path": path, "port": 443},
            "caBundle": _b64(spec.tls.ca_pem),
        },
        "rules": [{"operations": ["CREATE", "UPDATE"], "scope": "*", **r} for r in WORKLOAD_RULES],
        "namespaceSelector": {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "NotIn",
                    "values": sorted({spec.namespace, *spec.excluded}),
                }
            ]
        },
    }
    if mutating:
        hook["reinvocationPolicy"] = "IfNeeded"
    return hook


def manifests(spec: InstallSpec) -> list[dict[str, Any]]:
    """Every object, in apply order."""
    ns, svc = spec.namespace, spec.service
    labels = {"app.kubernetes.io/name": "assay-admission", "app.kubernetes.io/instance": svc}
    meta = {"name": svc, "namespace": ns, "labels": labels}
    args = ["admission", "serve", "--policy", "/etc/assay/policies", "--tls-cert", "/etc/assay/tls/tls.crt",
            "--tls-key", "/etc/assay/tls/tls.key", "--port", str(PORT)]  # fmt: skip
    args += ["--namespace-labels", "kubernetes"]  # namespaceSelector: labels read with the RBAC below
    for e in spec.excluded:
        args += ["--exclude-namespace", e]
    if spec.cache:
        args += ["--cache", spec.cache]
    args += spec.extra_args
    probe: dict[str, Any] = {"httpGet": {"path": "/readyz", "port": PORT, "scheme": "HTTPS"}, "periodSeconds": 5}
    container = {
        "name": "webhook",
        "image": spec.image,
        "args": args,
        "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": probe,
        "livenessProbe": {**probe, "httpGet": {**probe["httpGet"], "path": "/healthz"}},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "tls", "mountPath": "/etc/assay/tls", "readOnly": True},
            {"name": "policies", "mountPath": "/etc/assay/policies", "readOnly": True},
        ],
    }
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}},
        {
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {**meta, "name": f"{svc}-tls"},
            "data": {"tls.crt": _b64(spec.tls.cert_pem), "tls.key": _b64(spec.tls.key_pem), "ca.crt": _b64(spec.tls.ca_pem)},
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": f"{svc}-{ns}-namespaces", "labels": labels},
            "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{svc}-{ns}-namespaces", "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"{svc}-{ns}-namespaces"},
            "subjects": [{"kind": "ServiceAccount", "name": svc, "namespace": ns}],
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {**meta, "name": f"{svc}-policies"}, "data": dict(spec.policies)},
        {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {
                "replicas": spec.replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": svc,
                        "containers": [container],
                        "volumes": [
                            {"name": "tls", "secret": {"secretName": f"{svc}-tls"}},
                            {"name": "policies", "configMap": {"name": f"{svc}-policies"}},
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {"selector": labels, "ports": [{"name": "https", "port": 443, "targetPort": PORT, "protocol": "TCP"}]},
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": f"{svc}.{ns}", "labels": labels},
            "webhooks": [_webhook(spec, "mutate", "/mutate", True)],
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": f"{svc}.{ns}", "labels": labels},
            "webhooks": [_webhook(spec, "validate", "/validate", False)],
        },
    ]  # fmt: skip
    return objects


def render(spec: InstallSpec) -> str:
    """Multi-document YAML of :func:`manifests`."""
    import yaml

    return "".join("---\n" + yaml.safe_dump(o, sort_keys=False) for o in manifests(spec))


def policy_texts(paths: list[str]) -> dict[str, str]:
    """The policy files (checked by loading them) and the key files they name, for the ConfigMap."""
    from assay.admission.policyset import load, policy_files

    loaded = load(paths)
    out: dict[str, str] = {}
    for f, policy in zip(policy_files(paths), loaded.policies, strict=True):
        if f.name in out:
            raise InputError("policy-set-invalid", f"two policy files are named {f.name}")
        out[f.name] = f.read_text(encoding="utf-8")
        for rule in policy.rules:
            for written, _ in rule.authorities.keys:
                if "/" in written or Path(written).is_absolute():
                    raise InputError(
                        "policy-key-path-unsupported",
                        f"{f}: key {written!r} must sit beside the policy (a ConfigMap is one flat directory)",
                    )
                out[written] = (f.parent / written).read_text(encoding="utf-8")
    return out
