"""The ``assay`` command."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.exceptions import TyperException

from assay import __version__
from assay.cli import output
from assay.errors import EXIT_ENVIRONMENT, EXIT_INPUT, AssayError, InputError

app = typer.Typer(
    name="assay",
    help="Sign, attest, log and verify software artifacts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
checksums_app = typer.Typer(help="Create and verify sha256sum checksum files.", no_args_is_help=True)
pgp_app = typer.Typer(help="OpenPGP detached signatures.", no_args_is_help=True)
app.add_typer(checksums_app, name="checksums")
app.add_typer(pgp_app, name="pgp")


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


OutputOpt = Annotated[OutputFormat, typer.Option("--output", "-o", help="text or json")]
PasswordFileOpt = Annotated[
    Optional[str], typer.Option("--password-file", help="file holding the key password (else ASSAY_PASSWORD)")
]


IdentityOpt = Annotated[Optional[str], typer.Option("--certificate-identity", help="expected SAN (email or URI)")]
IdentityRegexpOpt = Annotated[Optional[str], typer.Option("--certificate-identity-regexp", help="SAN must fully match")]
IssuerOpt = Annotated[Optional[str], typer.Option("--certificate-oidc-issuer", help="expected OIDC issuer")]
IssuerRegexpOpt = Annotated[
    Optional[str], typer.Option("--certificate-oidc-issuer-regexp", help="issuer must fully match")
]
ExtensionOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--certificate-extension", help="NAME=VALUE claim (name or OID, e.g. sourceRepositoryRef=refs/heads/main)"
    ),
]
GhTriggerOpt = Annotated[Optional[str], typer.Option("--certificate-github-workflow-trigger")]
GhShaOpt = Annotated[Optional[str], typer.Option("--certificate-github-workflow-sha")]
GhNameOpt = Annotated[Optional[str], typer.Option("--certificate-github-workflow-name")]
GhRepoOpt = Annotated[Optional[str], typer.Option("--certificate-github-workflow-repository")]
GhRefOpt = Annotated[Optional[str], typer.Option("--certificate-github-workflow-ref")]
TrustedRootOpt = Annotated[
    Optional[str],
    typer.Option("--trusted-root", help="TrustedRoot or ClientTrustConfig JSON (default: Sigstore public good)"),
]
ServerOpt = Annotated[Optional[str], typer.Option("--server", help="assay server URL (transparency log)")]
RequireTlogOpt = Annotated[bool, typer.Option("--require-tlog", help="reject bundles without a verified log entry")]


def _identity(
    identity: str | None,
    identity_regexp: str | None,
    issuer: str | None,
    issuer_regexp: str | None,
    extensions: list[str] | None,
    github: dict[str, str | None],
) -> Any:
    """Build an identity policy from cosign-style flags; None when no identity flag was given."""
    from assay.verify.identity import IdentityPolicy, claim_name

    pairs: list[tuple[str, str]] = []
    for item in extensions or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise InputError("usage", f"--certificate-extension {item!r}: expected NAME=VALUE")
        pairs.append((claim_name(name), value))
    pairs.extend((name, value) for name, value in github.items() if value is not None)
    if not any((identity, identity_regexp, issuer, issuer_regexp, pairs)):
        return None
    return IdentityPolicy(identity, identity_regexp, issuer, issuer_regexp, tuple(pairs))


KeyOpt = Annotated[Optional[str], typer.Option("--key", help="private key file or signer URI (hsm:, awskms:, ...)")]
TokenOpt = Annotated[
    Optional[str], typer.Option("--identity-token", help="OIDC ID token (or @FILE, or - for stdin) for keyless signing")
]


def _token(value: str | None) -> str | None:
    """An identity token given inline, as @FILE, or - (stdin); ASSAY_IDENTITY_TOKEN is the default."""
    import os

    if value is None:
        value = os.environ.get("ASSAY_IDENTITY_TOKEN") or None
        if value is None:
            return None
    if value == "-":
        return sys.stdin.read().strip()
    if value.startswith("@"):
        from assay.service.io import read_file

        return read_file(value[1:], "identity token file").decode().strip()
    return value.strip()


def _version(value: bool) -> None:
    if value:
        output.say(f"assay {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show details and tracebacks")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    output.state["verbose"] = verbose


class JsonResult(dict):  # type: ignore[type-arg]
    """A plain dict result that renders itself as JSON (for _verify_output)."""

    def to_json(self) -> dict[str, Any]:
        return dict(self)


def _verify_output(fmt: OutputFormat, run: Callable[[], Any], render: Callable[[Any], None]) -> None:
    """Run a verification, rendering success or failure in the chosen format."""
    try:
        result = run()
    except AssayError as exc:
        if fmt is OutputFormat.json:
            output.emit_json(output.error_json(exc))
        raise
    if fmt is OutputFormat.json:
        output.emit_json(result.to_json())
    else:
        render(result)


def _render_verified(result: Any) -> None:
    for step in result.steps:
        mark = "ok  " if step.status == "pass" else "skip"
        output.warn(f"  {mark} {step.step}: {step.detail}")
    for note in result.notes:
        output.warn(f"note: {note}")
    output.say("Verified OK")


@app.command()
def keygen(
    type: Annotated[str, typer.Option("--type", help="ecdsa-p256, ed25519 or rsa-3072")] = "ecdsa-p256",
    output_prefix: Annotated[str, typer.Option("--output-prefix", help="writes PREFIX.key and PREFIX.pub")] = "assay",
    password_file: PasswordFileOpt = None,
) -> None:
    """Generate a key pair: PKCS#8 private key (mode 0600) and SPKI public key."""
    from pathlib import Path

    from assay.crypto import keys
    from assay.service.io import password, write_atomic

    key = keys.generate(type)
    pw = password(password_file)
    priv, pub = Path(output_prefix + ".key"), Path(output_prefix + ".pub")
    if pub.exists():
        raise InputError("file-exists", f"{pub}: already exists; refusing to overwrite")
    keys.write_private(priv, keys.private_pem(key, pw))
    write_atomic(str(pub), keys.public_pem(key.public_key()))
    if pw is None:
        output.warn("warning: the private key is not encrypted (set ASSAY_PASSWORD or --password-file to encrypt it)")
    output.say(f"Private key written to {priv}")
    output.say(f"Public key written to {pub}")


@app.command("public-key")
def public_key(
    key: Annotated[str, typer.Option("--key", help="private key file or signer URI (hsm:, awskms:, ...)")],
    out: Annotated[Optional[str], typer.Option("--out", help="write here instead of stdout")] = None,
    password_file: PasswordFileOpt = None,
) -> None:
    """Print the public key (SPKI PEM) of a private key file or signer URI."""
    from assay.crypto import keys
    from assay.crypto import signer as signers
    from assay.service.io import password, write_atomic

    pem = keys.public_pem(signers.load(key, password(password_file)).public_key)
    write_atomic(out or "-", pem)


@app.command("sign-blob")
def sign_blob(
    file: Annotated[str, typer.Argument(help="file to sign, or - for stdin")],
    key: KeyOpt = None,
    identity_token: TokenOpt = None,
    bundle: Annotated[
        Optional[str], typer.Option("--bundle", help="bundle to write (default FILE.sigstore.json)")
    ] = None,
    server: ServerOpt = None,
    password_file: PasswordFileOpt = None,
) -> None:
    """Sign a blob and write a Sigstore bundle: with a key (logged when --server is given) or keyless (--identity-token)."""
    from assay.service import blob

    b, out = blob.sign_file(file, key, bundle, password_file, server, _token(identity_token))
    _say_logged(b)
    output.say(f"Wrote bundle to {out}")


def _say_logged(b: Any) -> None:
    if b.tlog_entries:
        output.warn(f"tlog entry created with index {b.tlog_entries[0].log_index}")
    else:
        output.warn("note: no transparency log configured; the bundle has no tlog entry")


@app.command("verify-blob")
def verify_blob(
    file: Annotated[str, typer.Argument(help="file, - for stdin, or sha256:HEX")],
    bundle: Annotated[Optional[str], typer.Option("--bundle", help="bundle (default FILE.sigstore.json)")] = None,
    key: Annotated[Optional[str], typer.Option("--key", help="public key (PEM/DER)")] = None,
    certificate_identity: IdentityOpt = None,
    certificate_identity_regexp: IdentityRegexpOpt = None,
    certificate_oidc_issuer: IssuerOpt = None,
    certificate_oidc_issuer_regexp: IssuerRegexpOpt = None,
    certificate_extension: ExtensionOpt = None,
    certificate_github_workflow_trigger: GhTriggerOpt = None,
    certificate_github_workflow_sha: GhShaOpt = None,
    certificate_github_workflow_name: GhNameOpt = None,
    certificate_github_workflow_repository: GhRepoOpt = None,
    certificate_github_workflow_ref: GhRefOpt = None,
    trusted_root: TrustedRootOpt = None,
    server: ServerOpt = None,
    require_tlog: RequireTlogOpt = False,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Verify a blob against a Sigstore bundle (managed key or keyless identity)."""
    from assay.service import blob

    def run() -> Any:
        policy = _identity(
            certificate_identity,
            certificate_identity_regexp,
            certificate_oidc_issuer,
            certificate_oidc_issuer_regexp,
            certificate_extension,
            {
                "githubWorkflowTrigger": certificate_github_workflow_trigger,
                "githubWorkflowSha": certificate_github_workflow_sha,
                "githubWorkflowName": certificate_github_workflow_name,
                "githubWorkflowRepository": certificate_github_workflow_repository,
                "githubWorkflowRef": certificate_github_workflow_ref,
            },
        )
        return blob.verify_file(
            file, bundle, key, identity=policy, trusted_root=trusted_root, server=server, require_tlog=require_tlog
        )

    _verify_output(output_fmt, run, _render_verified)


@app.command("attest-blob")
def attest_blob(
    file: Annotated[str, typer.Argument(help="the subject file, or - for stdin")],
    predicate: Annotated[str, typer.Option("--predicate", help="predicate JSON file")],
    type: Annotated[str, typer.Option("--type", help="predicate type URI or shorthand (slsaprovenance1, ...)")],
    key: KeyOpt = None,
    identity_token: TokenOpt = None,
    bundle: Annotated[
        Optional[str], typer.Option("--bundle", help="bundle to write (default FILE.sigstore.json)")
    ] = None,
    server: ServerOpt = None,
    password_file: PasswordFileOpt = None,
) -> None:
    """Sign an in-toto statement about a blob (DSSE in a Sigstore bundle), with a key or keyless."""
    from assay.service import blob

    b, out = blob.attest_file(file, predicate, type, key, bundle, password_file, server, _token(identity_token))
    _say_logged(b)
    output.say(f"Wrote attestation bundle to {out}")


VsaOutOpt = Annotated[
    Optional[str], typer.Option("--vsa-out", help="write a signed SLSA verification summary (bundle) here")
]
VsaKeyOpt = Annotated[Optional[str], typer.Option("--vsa-key", help="key (or signer URI) that signs the VSA")]


def _vsa_flags(kind: str, **flags: Any) -> dict[str, Any]:
    """The verification's flags, recorded (by digest) as the VSA's policy."""
    return {"kind": kind, **flags}


def _with_vsa(
    run: Callable[[], Any],
    *,
    target: str,
    bundle: str | None,
    flags: dict[str, Any],
    vsa_out: str | None,
    vsa_key: str | None,
    password_file: str | None,
    auth: Any = None,
) -> Callable[[], Any]:
    """Wrap a verification so that a VSA (PASSED or FAILED) is written before the result is reported."""
    if vsa_out is None:
        return run
    if vsa_key is None:
        raise InputError("usage", "--vsa-out needs --vsa-key to sign the summary")
    from assay.service.provenance import VsaRequest, verify_with_vsa

    request = VsaRequest(target, bundle, flags, vsa_out, vsa_key, password_file, auth)
    return lambda: verify_with_vsa(run, request, lambda passed: output.warn(
        f"verification summary ({'PASSED' if passed else 'FAILED'}) written to {vsa_out}"))  # fmt: skip


@app.command("verify-blob-attestation")
def verify_blob_attestation(
    file: Annotated[str, typer.Argument(help="file, - for stdin, or sha256:HEX")],
    bundle: Annotated[Optional[str], typer.Option("--bundle", help="bundle (default FILE.sigstore.json)")] = None,
    key: Annotated[Optional[str], typer.Option("--key", help="public key (PEM/DER)")] = None,
    type: Annotated[Optional[str], typer.Option("--type", help="required predicate type")] = None,
    certificate_identity: IdentityOpt = None,
    certificate_identity_regexp: IdentityRegexpOpt = None,
    certificate_oidc_issuer: IssuerOpt = None,
    certificate_oidc_issuer_regexp: IssuerRegexpOpt = None,
    certificate_extension: ExtensionOpt = None,
    trusted_root: TrustedRootOpt = None,
    server: ServerOpt = None,
    require_tlog: RequireTlogOpt = False,
    vsa_out: VsaOutOpt = None,
    vsa_key: VsaKeyOpt = None,
    password_file: PasswordFileOpt = None,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Verify an in-toto attestation bundle about a blob (optionally writing a signed VSA)."""
    from assay.service import blob

    def run() -> Any:
        policy = _identity(
            certificate_identity,
            certificate_identity_regexp,
            certificate_oidc_issuer,
            certificate_oidc_issuer_regexp,
            certificate_extension,
            {},
        )
        return blob.verify_file(
            file,
            bundle,
            key,
            identity=policy,
            trusted_root=trusted_root,
            server=server,
            require_tlog=require_tlog,
            predicate_type=type,
            expect_statement=True,
        )

    flags = _vsa_flags("attestation", type=type, key=key, identity=certificate_identity,
                       identityRegexp=certificate_identity_regexp, issuer=certificate_oidc_issuer)  # fmt: skip
    run_vsa = _with_vsa(
        run, target=file, bundle=bundle or (file + ".sigstore.json"), flags=flags, vsa_out=vsa_out,
        vsa_key=vsa_key, password_file=password_file,
    )  # fmt: skip
    _verify_output(output_fmt, run_vsa, _render_verified)


@checksums_app.command("create")
def checksums_create(
    files: Annotated[list[str], typer.Argument(help="files to list")],
    tag: Annotated[bool, typer.Option("--tag", help="BSD-style lines")] = False,
    out: Annotated[Optional[str], typer.Option("--out", help="write here instead of stdout")] = None,
    key: Annotated[Optional[str], typer.Option("--key", help="also sign the checksums file")] = None,
    bundle: Annotated[Optional[str], typer.Option("--bundle", help="bundle for the signature")] = None,
    password_file: PasswordFileOpt = None,
) -> None:
    """Write sha256sum-format checksums for FILES."""
    from assay import checksums
    from assay.service import blob
    from assay.service.io import write_atomic

    text = checksums.create(files, tag=tag)
    if key and not out:
        raise InputError("output-required", "signing needs --out so the signed file exists")
    if out:
        write_atomic(out, text.encode())
    else:
        sys.stdout.write(text)
    if key and out:
        _, bpath = blob.sign_file(out, key, bundle, password_file)
        output.warn(f"Signed {out}; bundle written to {bpath}")


@checksums_app.command("verify")
def checksums_verify(
    sums: Annotated[str, typer.Argument(help="checksums file")],
    ignore_missing: Annotated[bool, typer.Option("--ignore-missing", help="skip files that do not exist")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="an improperly formatted line is an error")] = False,
    bundle: Annotated[Optional[str], typer.Option("--bundle", help="bundle signing the checksums file")] = None,
    key: Annotated[Optional[str], typer.Option("--key", help="public key for --bundle")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="do not print OK lines")] = False,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Check files against a checksums file, as ``sha256sum -c``."""
    from assay import checksums
    from assay.service import blob
    from assay.service.io import read_file

    if bool(bundle) != bool(key):
        raise InputError("usage", "--bundle and --key go together")
    signature = None
    if bundle and key:
        if sums == "-":
            raise InputError("usage", "a signed checksums file must be a file, not stdin")
        signature = blob.verify_file(sums, bundle, key).to_json()
    data = read_file(sums, "checksums file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    report = checksums.verify(text, source=sums, ignore_missing=ignore_missing, strict=strict)
    if output_fmt is OutputFormat.json:
        output.emit_json(
            {
                "verified": report.ok,
                "signature": signature,
                "files": [r.__dict__ for r in report.results],
                "improperlyFormattedLines": list(report.bad_lines),
                "ignoredMissing": report.ignored_missing,
            }
        )
    else:
        for r in report.results:
            if r.status == "missing":
                output.warn(f"assay: {r.name}: No such file or directory")
            if not (quiet and r.status == "ok"):
                output.say(r.line())
        for w in report.warnings():
            output.warn(f"assay: {w}")
    if report.verified == 0 and report.missing == 0:
        output.warn(f"assay: {sums}: no file was verified")
    if not report.ok:
        raise typer.Exit(1)


@pgp_app.command("verify")
def pgp_verify(
    file: Annotated[str, typer.Argument(help="the signed file")],
    signature: Annotated[str, typer.Option("--signature", help="detached signature (.asc or .sig)")],
    key: Annotated[str, typer.Option("--key", help="armored or binary public key file")],
    fingerprint: Annotated[
        Optional[str], typer.Option("--fingerprint", help="required primary key fingerprint")
    ] = None,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Verify an OpenPGP detached signature against a given key."""
    from pathlib import Path

    from assay import pgp

    def render(res: JsonResult) -> None:
        output.warn(f"  signed by {res['primary_fingerprint']} {res['user_id']}")
        output.say("Verified OK")

    def run() -> JsonResult:
        return JsonResult(verified=True, **pgp.verify(Path(file), Path(signature), Path(key), fingerprint).__dict__)

    _verify_output(output_fmt, run, render)


@app.command()
def server(
    dev: Annotated[bool, typer.Option("--dev", help="development mode (loud warning)")] = False,
    data_dir: Annotated[str, typer.Option("--data-dir", help="keys and the SQLite database")] = ".assay",
    database: Annotated[
        Optional[str], typer.Option("--database", help="postgresql://... (default: SQLite in the data directory)")
    ] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8080,
    public_url: Annotated[
        Optional[str], typer.Option("--public-url", help="URL clients use (default http://HOST:PORT)")
    ] = None,
    log_key: Annotated[
        Optional[str], typer.Option("--log-key", help="signer URI or key file for the log (default: generated)")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="server processes (they share the database)")] = 1,
    oidc_issuer: Annotated[
        Optional[list[str]],
        typer.Option(
            "--oidc-issuer", help="accepted OIDC issuer URL[=email|github-workflow|gitlab-pipeline|uri] (repeatable)"
        ),
    ] = None,
    ca_key: Annotated[
        Optional[str], typer.Option("--ca-key", help="signer URI or key file for the issuing CA (e.g. hsm:...)")
    ] = None,
    audience: Annotated[str, typer.Option("--audience", help="required token audience")] = "sigstore",
) -> None:
    """Run the assay server: transparency log (Rekor v1), CA (Fulcio v2) with CT, and RFC 3161 TSA."""
    from pathlib import Path

    from assay.server.config import Settings
    from assay.server.main import serve

    serve(
        Settings(
            Path(data_dir),
            database,
            host,
            port,
            dev,
            public_url,
            log_key=log_key,
            workers=workers,
            oidc_issuers=list(oidc_issuer or []),
            ca_key=ca_key,
            audience=audience,
        )
    )


dev_app = typer.Typer(help="Development helpers (need a server started with --dev).", no_args_is_help=True)
app.add_typer(dev_app, name="dev")


@dev_app.command("token")
def dev_token(
    server: Annotated[str, typer.Option("--server", help="an assay server started with --dev")],
    email: Annotated[Optional[str], typer.Option("--email", help="an email identity")] = None,
    github_workflow: Annotated[
        Optional[str],
        typer.Option("--github-workflow", help="OWNER/REPO: a GitHub-Actions-shaped token for that repository"),
    ] = None,
    ref: Annotated[str, typer.Option("--ref")] = "refs/heads/main",
    workflow: Annotated[str, typer.Option("--workflow")] = ".github/workflows/release.yml",
    audience: Annotated[str, typer.Option("--audience")] = "sigstore",
    expires_in: Annotated[int, typer.Option("--expires-in", help="seconds")] = 600,
) -> None:
    """Print an ID token minted by the server's development issuer."""
    from assay.clients.http import reject, request

    if email and github_workflow:
        raise InputError("usage", "give --email or --github-workflow, not both")
    base = server.rstrip("/") + "/dev/oidc"
    body: dict[str, object]
    if github_workflow:
        url, body = base + "/github/token", {"repository": github_workflow, "ref": ref, "workflow": workflow}
    else:
        url, body = base + "/token", {"email": email or "dev@example.com"}
    body.update({"audience": audience, "expiresIn": expires_in})
    resp = request("POST", url, json=body)
    if resp.status_code == 404:
        raise InputError("dev-issuer-off", f"{server} has no development issuer (start it with --dev)")
    if resp.status_code != 200:
        raise reject(resp, "token")
    output.say(resp.json()["id_token"])


@app.command("trust-config")
def trust_config(server: Annotated[str, typer.Option("--server", help="assay server URL")]) -> None:
    """Print the server's ClientTrustConfig (trusted root + signing config) for Sigstore clients."""
    from assay.clients.http import reject, request

    resp = request("GET", server.rstrip("/") + "/api/v1/trustConfig")
    if resp.status_code != 200:
        raise reject(resp, "trust config")
    output.emit_json(resp.json())


log_app = typer.Typer(help="Inspect, verify and monitor a transparency log.", no_args_is_help=True)
app.add_typer(log_app, name="log")
ServerReq = Annotated[str, typer.Option("--server", help="log server URL")]


@log_app.command("info")
def log_info(server: ServerReq, output_fmt: OutputOpt = OutputFormat.text) -> None:
    """The log's current size, root hash and checkpoint."""
    from assay.clients.rekor import RekorClient

    info = RekorClient(server).log_info()
    if output_fmt is OutputFormat.json:
        output.emit_json(info)
    else:
        output.say(f"tree size: {info['treeSize']}\nroot hash: {info['rootHash']}\n\n{info['signedTreeHead']}")


@log_app.command("get")
def log_get(
    server: ServerReq,
    uuid: Annotated[Optional[str], typer.Option("--uuid")] = None,
    index: Annotated[Optional[int], typer.Option("--index", min=0)] = None,
) -> None:
    """Print an entry (by UUID or index) with its proof, as JSON."""
    from assay.clients.http import reject, request

    if (uuid is None) == (index is None):
        raise InputError("usage", "give exactly one of --uuid and --index")
    base = server.rstrip("/")
    resp = (
        request("GET", f"{base}/api/v1/log/entries/{uuid}")
        if uuid
        else request("GET", f"{base}/api/v1/log/entries", params={"logIndex": index})
    )
    if resp.status_code != 200:
        raise reject(resp, "log entry")
    output.emit_json(resp.json())


@log_app.command("proof")
def log_proof(
    server: ServerReq,
    first: Annotated[int, typer.Option("--first", min=0)],
    last: Annotated[int, typer.Option("--last", min=0)],
) -> None:
    """Print the consistency proof between two tree sizes, as JSON."""
    from assay.clients.rekor import RekorClient

    output.emit_json(RekorClient(server).consistency(first, last))


@log_app.command("verify-entry")
def log_verify_entry(
    server: ServerReq,
    uuid: Annotated[Optional[str], typer.Option("--uuid")] = None,
    index: Annotated[Optional[int], typer.Option("--index", min=0)] = None,
    trusted_root: TrustedRootOpt = None,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Check an entry's signed entry timestamp, inclusion proof and checkpoint."""
    from assay.service import logops

    if (uuid is None) == (index is None):
        raise InputError("usage", "give exactly one of --uuid and --index")

    def render(r: Any) -> None:
        output.say(f"entry {r['logIndex']} ({r['kind']}) is included in the log at size {r['treeSize']}")

    _verify_output(
        output_fmt,
        lambda: JsonResult(logops.verify_entry(server, uuid=uuid, index=index, trusted_root=trusted_root)),
        render,
    )


@log_app.command("monitor")
def log_monitor(
    server: ServerReq,
    state: Annotated[
        str, typer.Option("--state", help="file remembering the last verified checkpoint")
    ] = ".assay-monitor.json",
    trusted_root: TrustedRootOpt = None,
    interval: Annotated[float, typer.Option("--interval", help="seconds between checks; 0 checks once")] = 0,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Verify each new checkpoint is signed and consistent with the last one; exit 1 on fork or shrink."""
    import time
    from pathlib import Path

    from assay.service import logops

    def render(r: Any) -> None:
        prev = f" (consistent with size {r['previousSize']})" if "previousSize" in r else " (first checkpoint pinned)"
        output.say(f"checkpoint verified at size {r['size']}{prev}")

    while True:
        _verify_output(output_fmt, lambda: JsonResult(logops.monitor_once(server, Path(state), trusted_root)), render)
        if interval <= 0:
            return
        time.sleep(interval)


InsecureOpt = Annotated[bool, typer.Option("--insecure", help="plain HTTP (loopback registries only)")]
RegUserOpt = Annotated[Optional[str], typer.Option("--registry-username")]
RegPassOpt = Annotated[Optional[str], typer.Option("--registry-password", envvar="ASSAY_REGISTRY_PASSWORD")]
ImageArg = Annotated[str, typer.Argument(help="image reference, or oci:PATH[:tag|@digest] (an OCI image layout)")]
PubKeyOpt = Annotated[Optional[str], typer.Option("--key", help="public key (PEM/DER)")]


def _auth(insecure: bool, username: str | None, password_: str | None) -> Any:
    from assay.oci.store import RegistryAuth

    return RegistryAuth(insecure, username, password_)


@app.command("sign")
def sign_image(
    image: ImageArg,
    key: KeyOpt = None,
    identity_token: TokenOpt = None,
    server: ServerOpt = None,
    password_file: PasswordFileOpt = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", help="for a multi-arch index, also sign each platform manifest")
    ] = False,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
) -> None:
    """Sign a container image: a bundle as an OCI 1.1 referrer (tag-schema fallback when needed) and cosign's .sig."""
    from assay.service import image as image_svc

    out = image_svc.sign_image(
        image,
        key=key,
        token=_token(identity_token),
        server=server,
        password_file=password_file,
        auth=_auth(insecure, registry_username, registry_password),
        recursive=recursive,
    )
    output.say(f"Signed {out['image']} ({out['signed']} manifest(s); bundle {out['referrer']})")


def _verifier(
    key: str | None,
    identity: tuple[str | None, str | None, str | None, str | None, list[str] | None],
    trusted_root: str | None,
    server: str | None,
) -> Any:
    from assay.service.image import ImageVerifier

    policy = _identity(*identity, {})
    if key is None and policy is None:
        raise InputError("usage", "give --key or an identity (--certificate-identity[-regexp] and issuer)")
    return ImageVerifier(key, policy, trusted_root, server)


@app.command("verify")
def verify_image(
    image: ImageArg,
    key: PubKeyOpt = None,
    certificate_identity: IdentityOpt = None,
    certificate_identity_regexp: IdentityRegexpOpt = None,
    certificate_oidc_issuer: IssuerOpt = None,
    certificate_oidc_issuer_regexp: IssuerRegexpOpt = None,
    certificate_extension: ExtensionOpt = None,
    trusted_root: TrustedRootOpt = None,
    server: ServerOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Verify an image's signatures (any attached bundle or cosign signature that satisfies the key or identity)."""
    from assay.service import image as image_svc

    identity = (
        certificate_identity,
        certificate_identity_regexp,
        certificate_oidc_issuer,
        certificate_oidc_issuer_regexp,
        certificate_extension,
    )
    _verify_output(
        output_fmt,
        lambda: image_svc.verify_image(
            image,
            _verifier(key, identity, trusted_root, server),
            auth=_auth(insecure, registry_username, registry_password),
        ),
        _render_verified,
    )


def _attest(
    image: str,
    predicate: Any,
    type: str,
    key: str | None,
    identity_token: str | None,
    server: str | None,
    password_file: str | None,
    auth: Any,
) -> dict[str, Any]:
    from assay.service import image as image_svc

    return image_svc.sign_image(
        image,
        key=key,
        token=_token(identity_token),
        server=server,
        password_file=password_file,
        auth=auth,
        predicate=predicate,
        predicate_type=type,
    )


@app.command("attest")
def attest_image(
    image: ImageArg,
    predicate: Annotated[str, typer.Option("--predicate", help="predicate JSON file")],
    type: Annotated[str, typer.Option("--type", help="predicate type URI or shorthand")],
    key: KeyOpt = None,
    identity_token: TokenOpt = None,
    server: ServerOpt = None,
    password_file: PasswordFileOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
) -> None:
    """Attach a signed in-toto attestation (DSSE) about an image: as an OCI referrer and in cosign's .att."""
    from assay.formats.encoding import load_json
    from assay.service.io import read_file

    doc = load_json(read_file(predicate, "predicate file"), predicate)
    auth = _auth(insecure, registry_username, registry_password)
    out = _attest(image, doc, type, key, identity_token, server, password_file, auth)
    output.say(f"Attested {out['image']} (bundle {out['referrer']})")


attach_app = typer.Typer(help="Attach supply-chain material to images.", no_args_is_help=True)
app.add_typer(attach_app, name="attach")


@attach_app.command("sbom")
def attach_sbom(
    image: ImageArg,
    sbom: Annotated[str, typer.Option("--sbom", help="CycloneDX or SPDX JSON document")],
    key: KeyOpt = None,
    identity_token: TokenOpt = None,
    server: ServerOpt = None,
    password_file: PasswordFileOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
) -> None:
    """Attach an SBOM to an image as a signed attestation (predicate type from the document's format)."""
    from assay.formats.encoding import load_json
    from assay.service.image import sbom_predicate_type
    from assay.service.io import read_file

    doc = load_json(read_file(sbom, "SBOM"), sbom)
    ptype = sbom_predicate_type(doc, sbom)
    auth = _auth(insecure, registry_username, registry_password)
    out = _attest(image, doc, ptype, key, identity_token, server, password_file, auth)
    output.say(f"Attached SBOM ({ptype}) to {out['image']} (bundle {out['referrer']})")


@app.command("verify-attestation")
def verify_image_attestation(
    image: ImageArg,
    type: Annotated[str, typer.Option("--type", help="required predicate type")],
    key: PubKeyOpt = None,
    certificate_identity: IdentityOpt = None,
    certificate_identity_regexp: IdentityRegexpOpt = None,
    certificate_oidc_issuer: IssuerOpt = None,
    certificate_oidc_issuer_regexp: IssuerRegexpOpt = None,
    certificate_extension: ExtensionOpt = None,
    trusted_root: TrustedRootOpt = None,
    server: ServerOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
    vsa_out: VsaOutOpt = None,
    vsa_key: VsaKeyOpt = None,
    password_file: PasswordFileOpt = None,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Verify an image attestation of a given predicate type (optionally writing a signed VSA)."""
    from assay.service import image as image_svc

    identity = (
        certificate_identity,
        certificate_identity_regexp,
        certificate_oidc_issuer,
        certificate_oidc_issuer_regexp,
        certificate_extension,
    )
    auth = _auth(insecure, registry_username, registry_password)
    flags = _vsa_flags("attestation", type=type, key=key, identity=certificate_identity,
                       identityRegexp=certificate_identity_regexp, issuer=certificate_oidc_issuer)  # fmt: skip
    run = _with_vsa(
        lambda: image_svc.verify_image(image, _verifier(key, identity, trusted_root, server), auth=auth,
                                       predicate_type=type),
        target=image, bundle=None, flags=flags, vsa_out=vsa_out, vsa_key=vsa_key, password_file=password_file,
        auth=auth,
    )  # fmt: skip
    _verify_output(output_fmt, run, _render_verified)


@app.command("tree")
def image_tree(
    image: ImageArg,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
) -> None:
    """List the signatures and attestations attached to an image (JSON), and any refused material."""
    from assay.service import image as image_svc

    output.emit_json(image_svc.tree(image, auth=_auth(insecure, registry_username, registry_password)))


@app.command("copy")
def copy_image(
    src: ImageArg,
    dst: Annotated[str, typer.Argument(help="destination reference or oci:PATH[:tag]")],
    policy: Annotated[Optional[str], typer.Option("--policy", help="policy file the source must satisfy")] = None,
    key: PubKeyOpt = None,
    certificate_identity: IdentityOpt = None,
    certificate_identity_regexp: IdentityRegexpOpt = None,
    certificate_oidc_issuer: IssuerOpt = None,
    certificate_oidc_issuer_regexp: IssuerRegexpOpt = None,
    certificate_extension: ExtensionOpt = None,
    trusted_root: TrustedRootOpt = None,
    server: ServerOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Copy an image with its signatures and attestations, only if the source verifies (promotion)."""
    from assay.service import image as image_svc

    identity = (
        certificate_identity,
        certificate_identity_regexp,
        certificate_oidc_issuer,
        certificate_oidc_issuer_regexp,
        certificate_extension,
    )
    if policy is not None:
        from assay.policy.images import copy_check

        check = copy_check(policy)
    else:
        check = image_svc.check_signatures(_verifier(key, identity, trusted_root, server))
    auth = _auth(insecure, registry_username, registry_password)

    def render(r: Any) -> None:
        output.say(
            f"Copied {r['source']} to {r['destination']} "
            f"({r['manifests']} manifest(s), {r['blobs']} blob(s) uploaded, {r['mounted']} mounted)"
        )

    _verify_output(output_fmt, lambda: JsonResult(image_svc.copy_image(src, dst, check, auth=auth)), render)


class SbomFormat(StrEnum):
    cyclonedx = "cyclonedx-json"
    spdx = "spdx-json"


@app.command("sbom")
def sbom_command(
    target: Annotated[str, typer.Argument(help="directory or file, oci:LAYOUT[:tag], or an image reference")],
    format: Annotated[SbomFormat, typer.Option("--format", help="output format")] = SbomFormat.cyclonedx,
    out: Annotated[Optional[str], typer.Option("--out", help="write here instead of stdout")] = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
) -> None:
    """Catalogue packages (Python, npm, dpkg, apk, Go binaries) into a CycloneDX 1.6 or SPDX 2.3 SBOM."""
    import json

    from assay.sbom import generate
    from assay.service.io import write_atomic

    components, subject = generate.catalog(target, _auth(insecure, registry_username, registry_password))
    doc = generate.document(components, subject, format.value)
    data = json.dumps(doc, indent=2).encode() + b"\n"
    if out:
        write_atomic(out, data)
        output.warn(f"{len(components)} components written to {out}")
    else:
        sys.stdout.buffer.write(data)


vulndb_app = typer.Typer(help="The local OSV vulnerability index.", no_args_is_help=True)
app.add_typer(vulndb_app, name="vulndb")
DbOpt = Annotated[str, typer.Option("--db", help="directory of the vulnerability index")]


@vulndb_app.command("import")
def vulndb_import(
    source: Annotated[
        str, typer.Argument(help="OSV export: a zip (e.g. all.zip), a directory of JSON records, or one file")
    ],
    db: DbOpt,
) -> None:
    """Load OSV records into the index (newer records replace older ones)."""
    from pathlib import Path

    from assay.vuln.db import VulnDB

    index = VulnDB(Path(db), create=True)
    try:
        counts = index.import_osv(Path(source))
        total = index.meta()["records"]
    finally:
        index.close()
    output.say(
        f"imported {counts['imported']} record(s), {counts['withdrawn']} withdrawn, "
        f"{counts['older']} older than stored; {total} in {db}"
    )


class ScanOutput(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"
    predicate = "predicate"


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


@app.command("scan")
def scan_command(
    target: Annotated[str, typer.Argument(help="SBOM (CycloneDX/SPDX JSON), directory, oci:LAYOUT or image")],
    db: DbOpt,
    fail_on: Annotated[
        Optional[Severity], typer.Option("--fail-on", help="exit 1 when a finding is at or above this severity")
    ] = None,
    vex: Annotated[Optional[str], typer.Option("--vex", help="CycloneDX VEX: not_affected statements suppress")] = None,
    output_fmt: Annotated[ScanOutput, typer.Option("--output", "-o")] = ScanOutput.table,
    out: Annotated[Optional[str], typer.Option("--out", help="write the report here")] = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
) -> None:
    """Match packages against the OSV index (per-ecosystem version ordering) and report findings."""
    from assay.service import scan as scan_svc
    from assay.service.io import write_atomic

    result = scan_svc.scan(target, db, vex, _auth(insecure, registry_username, registry_password))
    text = result.render(output_fmt.value)
    if out:
        write_atomic(out, text.encode())
    else:
        sys.stdout.write(text)
    if fail_on is not None:
        worst = result.at_or_above(fail_on.value)
        if worst:
            output.warn(f"error[vulnerabilities-found]: {len(worst)} finding(s) at or above {fail_on.value}")
            raise typer.Exit(1)


provenance_app = typer.Typer(help="SLSA provenance.", no_args_is_help=True)
app.add_typer(provenance_app, name="provenance")


@provenance_app.command("generate")
def provenance_generate(
    subject: Annotated[list[str], typer.Option("--subject", help="file or image the build produced (repeatable)")],
    out: Annotated[Optional[str], typer.Option("--out", help="write the predicate here (default stdout)")] = None,
    statement_out: Annotated[
        Optional[str], typer.Option("--statement-out", help="also write the in-toto statement (subjects + predicate)")
    ] = None,
    builder_id: Annotated[Optional[str], typer.Option("--builder-id", help="builder id (required outside CI)")] = None,
    source_uri: Annotated[Optional[str], typer.Option("--source-uri", help="generic builder: source URI")] = None,
    source_digest: Annotated[
        Optional[str], typer.Option("--source-digest", help="generic builder: gitCommit:SHA or sha256:HEX")
    ] = None,
    material: Annotated[
        Optional[list[str]], typer.Option("--material", help="FILE or URI=ALGORITHM:VALUE (repeatable)")
    ] = None,
    lockfile: Annotated[
        Optional[list[str]], typer.Option("--lockfile", help="lock file whose pinned packages are materials")
    ] = None,
    started_on: Annotated[Optional[str], typer.Option("--started-on", help="build start time (RFC 3339)")] = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
) -> None:
    """Build a SLSA provenance v1 predicate from GitHub Actions, GitLab CI or the given builder flags."""
    import json

    from assay.service import provenance as prov
    from assay.service.io import write_atomic

    predicate, statement = prov.generate(
        subject, builder_id=builder_id, source_uri=source_uri, source_digest=source_digest,
        material_specs=material or [], lockfiles=lockfile or [], started_on=started_on,
        auth=_auth(insecure, registry_username, registry_password),
    )  # fmt: skip
    data = json.dumps(predicate, indent=2).encode() + b"\n"
    if statement_out:
        write_atomic(statement_out, json.dumps(statement, indent=2).encode() + b"\n")
    if out:
        write_atomic(out, data)
        output.warn(f"provenance predicate written to {out}")
    else:
        sys.stdout.buffer.write(data)


@app.command("verify-provenance")
def verify_provenance(
    target: Annotated[str, typer.Argument(help="artifact file, or an image (registry or oci:LAYOUT)")],
    source_uri: Annotated[str, typer.Option("--source-uri", help="expected source repository, e.g. github.com/o/r")],
    source_branch: Annotated[Optional[str], typer.Option("--source-branch")] = None,
    source_tag: Annotated[Optional[str], typer.Option("--source-tag")] = None,
    builder_id: Annotated[Optional[str], typer.Option("--builder-id", help="expected runDetails.builder.id")] = None,
    bundle: Annotated[Optional[str], typer.Option("--bundle", help="attestation bundle (blobs)")] = None,
    key: PubKeyOpt = None,
    certificate_identity: IdentityOpt = None,
    certificate_identity_regexp: IdentityRegexpOpt = None,
    certificate_oidc_issuer: IssuerOpt = None,
    certificate_oidc_issuer_regexp: IssuerRegexpOpt = None,
    certificate_extension: ExtensionOpt = None,
    trusted_root: TrustedRootOpt = None,
    server: ServerOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
    vsa_out: VsaOutOpt = None,
    vsa_key: VsaKeyOpt = None,
    password_file: PasswordFileOpt = None,
    output_fmt: OutputOpt = OutputFormat.text,
) -> None:
    """Verify SLSA provenance like slsa-verifier: signer, subject, builder, source repository and ref."""
    from assay.attest.provenance import Expectations
    from assay.service import provenance as prov

    if source_branch and source_tag:
        raise InputError("usage", "give --source-branch or --source-tag, not both")
    expect = Expectations(source_uri, source_branch, source_tag, builder_id)
    identity = _identity(
        certificate_identity, certificate_identity_regexp, certificate_oidc_issuer,
        certificate_oidc_issuer_regexp, certificate_extension, {},
    )  # fmt: skip
    auth = _auth(insecure, registry_username, registry_password)
    flags = _vsa_flags("provenance", sourceUri=source_uri, branch=source_branch, tag=source_tag, builderId=builder_id,
                       key=key, identity=certificate_identity, identityRegexp=certificate_identity_regexp,
                       issuer=certificate_oidc_issuer)  # fmt: skip

    def run() -> Any:
        return prov.verify_provenance(
            target, expect, bundle=bundle, key=key, identity=identity, trusted_root=trusted_root,
            server=server, auth=auth,
        )  # fmt: skip

    wrapped = _with_vsa(
        run, target=target, bundle=bundle, flags=flags, vsa_out=vsa_out, vsa_key=vsa_key,
        password_file=password_file, auth=auth,
    )  # fmt: skip

    def result() -> Any:
        r = wrapped()
        return r.result if isinstance(r, prov.Verified) else r

    _verify_output(output_fmt, result, _render_verified)


policy_app = typer.Typer(help="The policy engine.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


class PolicyOutput(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"


@policy_app.command("schema")
def policy_schema() -> None:
    """Print the JSON Schema of assay.dev/v1 Policy documents."""
    from assay.policy.schema import SCHEMA

    output.emit_json(SCHEMA)


@policy_app.command("eval")
def policy_eval(
    targets: Annotated[list[str], typer.Argument(help="blob files or images (registry or oci:LAYOUT)")],
    policy: Annotated[str, typer.Option("--policy", help="policy file (YAML or JSON)")],
    bundle: Annotated[
        Optional[list[str]],
        typer.Option("--bundle", help="bundles for a single blob (default FILE.sigstore.json, FILE.*.sigstore.json)"),
    ] = None,
    output_fmt: Annotated[PolicyOutput, typer.Option("--output", "-o")] = PolicyOutput.table,
    vsa_out: VsaOutOpt = None,
    vsa_key: VsaKeyOpt = None,
    password_file: PasswordFileOpt = None,
    insecure: InsecureOpt = False,
    registry_username: RegUserOpt = None,
    registry_password: RegPassOpt = None,
    evidence_server: Annotated[
        Optional[str], typer.Option("--evidence-server", help="take attestations from this assay evidence store")
    ] = None,
    project: Annotated[Optional[str], typer.Option("--project", help="evidence store project")] = None,
) -> None:
    """Evaluate a policy; exit 1 when an enforced rule fails (warn and audit modes report and exit 0)."""
    from assay import __version__
    from assay.policy import report
    from assay.service import evidence as evidence_svc
    from assay.service import policy as policy_svc

    if vsa_out and not vsa_key:
        raise InputError("usage", "--vsa-out needs --vsa-key to sign the summary")
    auth = _auth(insecure, registry_username, registry_password)
    run = (
        evidence_svc.evaluate_targets(policy, targets, evidence_server, project, auth, bundle)
        if evidence_server
        else policy_svc.evaluate_targets(policy, targets, bundle, auth)
    )
    for w in run.warnings:
        output.warn(w)
    if output_fmt is PolicyOutput.table:
        sys.stdout.write(report.table(run.evaluations))
    elif output_fmt is PolicyOutput.json:
        output.emit_json(report.to_json(run.evaluations))
    else:
        output.emit_json(report.sarif(run.evaluations, __version__))
    if vsa_out and vsa_key:
        for path in policy_svc.write_vsas(run, vsa_out, vsa_key, password_file):
            output.warn(f"verification summary written to {path}")
    for ev in run.not_blocking_failures:
        output.warn(
            f"warning[policy-would-fail]: {ev.target.name} fails {run.policy.name} ({run.policy.mode} mode, not blocking)"
        )
    if run.blocking:
        ev = run.blocking[0]
        first = next(r for r in ev.rules if r.status != "pass")
        output.warn(f"error[{first.reason or 'policy-failed'}]: {ev.target.name}: rule {first.name}: {first.message}")
        raise typer.Exit(1)


@policy_app.command("init")
def policy_init(
    template: Annotated[str, typer.Argument(help="template name: artifact-security")],
    repository: Annotated[str, typer.Option("--repository", help="https://github.com/OWNER/REPO")],
    branch: Annotated[str, typer.Option("--branch")] = "main",
    workflow: Annotated[
        str, typer.Option("--workflow", help="workflow file, e.g. .github/workflows/release.yml")
    ] = ".github/workflows/release.yml",
    image: Annotated[Optional[list[str]], typer.Option("--image", help="image glob (default all)")] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", help="only images with these tags")] = None,
    tag_regexp: Annotated[Optional[str], typer.Option("--tag-regexp", help="only images whose tag matches")] = None,
    out: Annotated[Optional[str], typer.Option("--out")] = None,
) -> None:
    """Write a ready-made policy (Minder's artifact_signature rule set)."""
    from assay.policy import templates
    from assay.service.io import write_atomic

    if template != "artifact-security":
        raise InputError("usage", f"unknown template {template!r}; available: artifact-security")
    text = templates.artifact_security(repository, branch, workflow, image or [], tag or [], tag_regexp)
    if out:
        write_atomic(out, text.encode())
    else:
        sys.stdout.write(text)


@policy_app.command("test")
def policy_test(directory: Annotated[str, typer.Argument(help="directory with policy.yaml and cases/*.yaml")]) -> None:
    """Run policy fixture cases (expected result per rule); exit 1 when any case disagrees."""
    from assay.policy import testing

    results = testing.run(Path(directory))
    for r in results:
        output.say(f"{'PASS' if r.ok else 'FAIL'}  {r.name}")
        for p in r.problems:
            output.say(f"      {p}")
    failed = sum(not r.ok for r in results)
    output.say(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


conformance_app = typer.Typer(help="The sigstore-conformance client protocol.", no_args_is_help=True)
app.add_typer(conformance_app, name="conformance")


@conformance_app.command("verify-bundle")
def conformance_verify_bundle(
    target: Annotated[str, typer.Argument(help="artifact file or sha256:HEX")],
    bundle: Annotated[str, typer.Option("--bundle")],
    certificate_identity: IdentityOpt = None,
    certificate_oidc_issuer: IssuerOpt = None,
    key: Annotated[Optional[str], typer.Option("--key")] = None,
    trusted_root: TrustedRootOpt = None,
    staging: Annotated[bool, typer.Option("--staging", hidden=True)] = False,
) -> None:
    """Verify a bundle as the conformance suite asks (exit 0 = accepted)."""
    from assay.service import blob

    if staging:
        raise InputError("usage", "--staging is not supported offline; pass --trusted-root")
    policy = None
    if key is None:
        policy = _identity(certificate_identity, None, certificate_oidc_issuer, None, None, {})
    blob.verify_file(target, bundle, key, identity=policy, trusted_root=trusted_root)
    output.say("OK")


@conformance_app.command("sign-bundle")
def conformance_sign_bundle(
    target: Annotated[str, typer.Argument(help="artifact file")],
    identity_token: Annotated[str, typer.Option("--identity-token")],
    bundle: Annotated[str, typer.Option("--bundle")],
    trusted_root: TrustedRootOpt = None,
    signing_config: Annotated[
        Optional[str], typer.Option("--signing-config", help="Sigstore SigningConfig v0.2")
    ] = None,
    staging: Annotated[bool, typer.Option("--staging", hidden=True)] = False,
) -> None:
    """Sign an artifact keylessly as the conformance suite asks, using the services in --signing-config."""
    import json as _json

    from assay.service.blob import load_artifact
    from assay.service.io import read_file, write_atomic
    from assay.sign.keyless import Services, sign_digest

    if staging or not signing_config:
        raise InputError("usage", "pass --signing-config (and --trusted-root); --staging needs the network")
    del trusted_root  # the services come from the signing config; verification uses the trusted root
    services = Services.from_signing_config(_json.loads(read_file(signing_config, "signing config")))
    art = load_artifact(target, need_message=False)
    write_atomic(bundle, sign_digest(services, identity_token, art.sha256).to_bytes())


from assay.cli import evidence as _evidence_cli  # noqa: E402
from assay.cli import repository as _repository_cli  # noqa: E402

app.add_typer(_evidence_cli.app, name="evidence")
_repository_cli.register(app)


def main() -> None:
    """Entry point: run the app, map errors to exit codes."""
    try:
        rc = app(standalone_mode=False)
    except AssayError as exc:
        output.report_error(exc)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        output.warn("error[aborted]: aborted")
        sys.exit(EXIT_INPUT)
    except TyperException as exc:  # usage errors: unknown flag, missing argument, bad value
        if type(exc).__name__ == "NoArgsIsHelpError":
            output.warn(exc.format_message())
        else:
            output.warn(f"error[usage]: {exc.format_message()}")
        sys.exit(EXIT_INPUT)
    except Exception as exc:  # a bug: still one line, traceback only with -v
        output.warn(f"error[internal]: {type(exc).__name__}: {exc}")
        if output.state["verbose"]:
            import traceback

            traceback.print_exc()
        sys.exit(EXIT_ENVIRONMENT)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(rc if isinstance(rc, int) else 0)
