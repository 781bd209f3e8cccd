"""AdmissionReview requests shaped as kube-apiserver sends them (k8s.io/api admission/v1 field names).

``AdmissionRequest``: uid, kind/resource (GroupVersionKind/Resource), subResource,
requestKind/requestResource/requestSubResource, name, namespace, operation,
userInfo, object, oldObject, dryRun, options. Objects carry the fields the
apiserver has defaulted by the time admission runs (imagePullPolicy,
terminationMessagePath, restartPolicy, ...).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

GROUPS = {
    "Pod": ("", "pods"),
    "ReplicationController": ("", "replicationcontrollers"),
    "Deployment": ("apps", "deployments"),
    "ReplicaSet": ("apps", "replicasets"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
    "ConfigMap": ("", "configmaps"),
}
OPTIONS = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}


def container(name: str, image: str) -> dict[str, Any]:
    """A container as defaulted by the apiserver."""
    return {
        "name": name,
        "image": image,
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }


def pod_spec(images: dict[str, str], init: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [container(n, i) for n, i in images.items()],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "securityContext": {},
        "schedulerName": "default-scheduler",
    }
    if init:
        spec["initContainers"] = [container(n, i) for n, i in init.items()]
    return spec


def workload(kind: str, name: str, namespace: str, images: dict[str, str], init: dict[str, str] | None = None) -> Any:
    """A Pod or a workload with a pod template holding these containers."""
    group, _ = GROUPS[kind]
    api = f"{group}/v1" if group else "v1"
    labels = {"app": name}
    meta = {"name": name, "namespace": namespace, "labels": labels, "creationTimestamp": None}
    spec = pod_spec(images, init)
    template = {"metadata": {"labels": labels, "creationTimestamp": None}, "spec": spec}
    if kind == "Pod":
        return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec, "status": {}}
    if kind == "CronJob":
        body: dict[str, Any] = {
            "schedule": "*/5 * * * *",
            "concurrencyPolicy": "Allow",
            "jobTemplate": {"metadata": {"creationTimestamp": None}, "spec": {"template": template}},
        }
        template["spec"]["restartPolicy"] = "OnFailure"
    elif kind == "Job":
        template["spec"]["restartPolicy"] = "Never"
        body = {"template": template, "backoffLimit": 6}
    elif kind == "ReplicationController":
        body = {"replicas": 1, "selector": labels, "template": template}
    else:
        body = {"replicas": 1, "selector": {"matchLabels": labels}, "template": template}
        if kind == "DaemonSet":
            body.pop("replicas")
        if kind == "StatefulSet":
            body["serviceName"] = name
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": body, "status": {}}


def review(
    obj: dict[str, Any] | None,
    *,
    operation: str = "CREATE",
    old: dict[str, Any] | None = None,
    dry_run: bool = False,
    sub_resource: str = "",
    kind: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """An ``admission.k8s.io/v1`` AdmissionReview request as kube-apiserver posts it."""
    kind = kind or str((obj or old or {}).get("kind"))
    group, resource = GROUPS[kind]
    meta = (obj or old or {}).get("metadata", {})
    gvk = {"group": group, "version": "v1", "kind": kind}
    gvr = {"group": group, "version": "v1", "resource": resource}
    req: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": gvk,
        "resource": gvr,
        "requestKind": gvk,
        "requestResource": gvr,
        "name": meta.get("name", ""),
        "namespace": namespace if namespace is not None else meta.get("namespace", ""),
        "operation": operation,
        "userInfo": {
            "username": "kubernetes-admin",
            "uid": "aws-iam-authenticator:1234",
            "groups": ["system:masters", "system:authenticated"],
        },
        "object": copy.deepcopy(obj),
        "oldObject": copy.deepcopy(old),
        "dryRun": dry_run,
        "options": {
            "apiVersion": "meta.k8s.io/v1",
            "kind": OPTIONS.get(operation, "CreateOptions"),
            "fieldManager": "kubectl-client-side-apply",
        },
    }
    if sub_resource:
        req["subResource"] = sub_resource
        req["requestSubResource"] = sub_resource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}
