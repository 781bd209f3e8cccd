"""``assay admission serve|test|install``: the Kubernetes admission webhook, its offline twin and its manifests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from assay.cli.app import app as root
from assay.errors import InputError

if TYPE_CHECKING:
    from assay.admission.engine import Settings

app = typer.Typer(help="Kubernetes admission control: verify images before they run, pin tags to digests.")
root.add_typer(app, name="admission")

PolicyOpt = Annotated[list[str], typer.Option("--policy", help="policy file or directory (repeatable)")]
ExcludeOpt = Annotated[
    Optional[list[str]],
    typer.Option("--exclude-namespace", help="namespace (glob) never checked; default kube-system"),
]
InsecureOpt = Annotated[bool, typer.Option("--insecure", help="plain HTTP (loopback registries only)")]
RegUserOpt = Annotated[Optional[str], typer.Option("--registry-username")]
RegPassOpt = Annotated[Optional[str], typer.Option("--registry-password", envvar="ASSAY_REGISTRY_PASSWORD")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="seconds before an undecided image is denied")]


def _settings(timeout: float, insecure: bool, user: str | None, password: str | None, **kw: Any) -> Settings:
    from assay.admission.engine import Settings
    from assay.oci.store import RegistryAuth

    if timeout <= 0:
        raise InputError("usage", "--timeout must be positive")
    return Settings(timeout=timeout, auth=RegistryAuth(insecure, user, password), **kw)


def _labels_file(path: str | None) -> dict[str, dict[str, str]]:
    if not path:
        return {}
    from assay.admission.offline import namespace_labels, read_manifests

    _, objects = read_manifests([path])
    return namespace_labels([o for _, o in objects])


@app.command("serve")
def serve(
    policy: PolicyOpt,
    tls_cert: Annotated[str, typer.Option("--tls-cert", help="serving certificate (PEM)")],
    tls_key: Annotated[str, typer.Option("--tls-key", help="its private key (PEM)")],
    port: Annotated[int, typer.Option("--port")] = 8443,
    host: Annotated[str, typer.Option("--host")] = "0.0.0.0",
    cache: Annotated[Optional[str], typer.Option("--cache", help="memory (default) or redis://HOST:PORT/DB")] = None,
    timeout: TimeoutOpt = 8.0,
    cache_ttl: Annotated[
        float, typer.Option("--cache-ttl", help="seconds a passing verdict is reused (at most)")
    ] = 300.0,
    tag_ttl: Annotated[float, typer.Option("--tag-ttl", help="seconds a tag -> digest resolution is reused")] = 30.0,
    registry_concurrency: Annotated[int, typer.Option("--registry-concurrency")] = 8,
    exclude_namespace: ExcludeOpt = None,
    namespace_labels: Annotated[
        Optional[str],
        typer.Option(
            "--namespace-labels",
            help="labels for namespaceSelector: a YAML file of Namespace objects, 'kubernetes' (in-cluster API) "
            "or an API server URL (with --kube-token-file, --kube-ca)",
        ),
    ] = None,
    kube_token_file: Annotated[Optional[str], typer.Option("--kube-token-file")] = None,
    kube_ca: Annotated[Optional[str], typer.Option("--kube-ca")] = None,
    allow_tags: Annotated[
        bool,
        typer.Option(
            "--allow-tags",
            help="/validate admits verified tags too (resolved afresh; the kubelet pulls the tag later: see README)",
        ),
    ] = False,
    client_ca: Annotated[
        Optional[str], typer.Option("--client-ca", help="require client certificates from this CA")
    ] = None,
    reload_interval: Annotated[
        float, typer.Option("--reload-interval", help="seconds between policy file checks")
    ] = 5.0,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
) -> None:
    """Serve POST /validate and /mutate (AdmissionReview v1) over HTTPS, with /healthz, /readyz and /metrics."""
    import logging

    from assay.admission.cache import open_cache
    from assay.admission.engine import Engine
    from assay.admission.kube import NamespaceLabels
    from assay.admission.webhook import State
    from assay.admission.webhook import serve as run

    for f in (tls_cert, tls_key, *([client_ca] if client_ca else [])):
        if not Path(f).is_file():
            raise InputError("file-not-found", f"{f}: no such file")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lookup = None
    static = namespace_labels
    if namespace_labels == "kubernetes":
        lookup, static = NamespaceLabels.in_cluster(), None
    elif namespace_labels and namespace_labels.startswith("https://"):
        if not kube_token_file:
            raise InputError("usage", "an API server URL for --namespace-labels needs --kube-token-file")
        lookup, static = (
            NamespaceLabels(namespace_labels, Path(kube_token_file), Path(kube_ca) if kube_ca else None),
            None,
        )
    settings = _settings(
        timeout, insecure, registry_username, registry_password, cache_ttl=cache_ttl, tag_ttl=tag_ttl,
        registry_concurrency=registry_concurrency, require_digests=not allow_tags,
        namespace_labels=_labels_file(static),
    )  # fmt: skip
    excluded = tuple(exclude_namespace) if exclude_namespace is not None else ("kube-system",)
    state = State(
        Engine(None, settings, open_cache(cache), labels_lookup=lookup), list(policy), excluded, reload_interval
    )
    state.load()  # a bad set: not ready (503 on /readyz) until the files are fixed
    run(state, host, port, tls_cert, tls_key, client_ca)


@app.command("test")
def test(
    manifests: Annotated[list[str], typer.Argument(help="manifest files (multi-document YAML, Lists, Helm output)")],
    policy: PolicyOpt,
    pin_digests: Annotated[
        Optional[str], typer.Option("--pin-digests", help="write the manifests with verified tags pinned here")
    ] = None,
    namespace: Annotated[str, typer.Option("--namespace", help="namespace of objects that name none")] = "default",
    exclude_namespace: ExcludeOpt = None,
    output_fmt: Annotated[str, typer.Option("--output", "-o", help="text or json")] = "text",
    timeout: TimeoutOpt = 30.0,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
) -> None:
    """Decide manifests offline exactly as the webhook would; exit 1 when anything would be denied."""
    from assay.admission import offline, policyset
    from assay.admission.engine import Engine
    from assay.cli import output

    if output_fmt not in ("text", "json"):
        raise InputError("usage", "--output is text or json")
    excluded = tuple(exclude_namespace) if exclude_namespace is not None else ("kube-system",)
    engine = Engine(
        policyset.load(list(policy), excluded), _settings(timeout, insecure, registry_username, registry_password)
    )
    run = offline.decide(engine, list(manifests), namespace)
    work = run.workloads
    if output_fmt == "json":
        output.emit_json({"allowed": run.allowed, "workloads": [w.to_json() for w in work]})
    else:
        for w in work:
            sys.stdout.write(f"{'ALLOW' if w.allowed else 'DENY '} {w.kind}/{w.name} ({w.namespace}) in {w.source}\n")
            for c in w.containers:
                extra = f" -> {c.pinned}" if c.pinned else (f" @ {c.digest}" if c.digest else "")
                sys.stdout.write(f"  {c.status:<8} {c.container}: {c.image}{extra}\n")
                for line in c.lines + c.audit:
                    sys.stdout.write(f"           {line}\n")
        if not work:
            sys.stdout.write("no workloads (Pods or pod templates) in the manifests\n")
    if pin_digests:
        n = offline.pin(run, pin_digests)
        output.warn(f"{n} image(s) pinned; manifests written to {pin_digests}")
    if not run.allowed:
        raise typer.Exit(1)


@app.command("install")
def install(
    namespace: Annotated[str, typer.Option("--namespace")] = "assay-system",
    service: Annotated[str, typer.Option("--service")] = "assay-admission",
    generate_cert: Annotated[bool, typer.Option("--generate-cert", help="make a CA and serving certificate")] = False,
    tls_cert: Annotated[Optional[str], typer.Option("--tls-cert")] = None,
    tls_key: Annotated[Optional[str], typer.Option("--tls-key")] = None,
    ca_bundle: Annotated[Optional[str], typer.Option("--ca-bundle", help="CA that signed --tls-cert")] = None,
    policy: Annotated[Optional[list[str]], typer.Option("--policy", help="policies for the ConfigMap")] = None,
    image: Annotated[Optional[str], typer.Option("--image", help="container image of assay")] = None,
    replicas: Annotated[int, typer.Option("--replicas")] = 2,
    cache: Annotated[Optional[str], typer.Option("--cache", help="redis://… shared by the replicas")] = None,
    exclude_namespace: ExcludeOpt = None,
) -> None:
    """Print the Namespace, Secret, ConfigMap, Deployment, Service and webhook configurations (YAML)."""
    from assay import __version__
    from assay.admission import install as inst

    if generate_cert:
        tls = inst.generate_cert(service, namespace)
    elif tls_cert and tls_key:
        tls = inst.read_tls(tls_cert, tls_key, ca_bundle)
    else:
        raise InputError("usage", "give --generate-cert, or --tls-cert and --tls-key (and --ca-bundle)")
    spec = inst.InstallSpec(
        namespace, service, tls, image or f"assay:{__version__}",
        policies=inst.policy_texts(list(policy)) if policy else {},
        excluded=tuple(exclude_namespace) if exclude_namespace is not None else ("kube-system",),
        replicas=replicas, cache=cache,
    )  # fmt: skip
    sys.stdout.write(inst.render(spec))
