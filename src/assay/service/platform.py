"""Platform evidence for the key broker: what a platform shows with each unwrap request.

A workload token (OIDC: a Kubernetes service account, a CI job, a SPIFFE JWT-SVID) and/or a statement signed by an
attester the project trusts, naming the platform's claims and the request's fresh nonce (so a recorded statement
cannot be shown again). The attester is a key (file or signer URI) that signs the claims here, or a command — an
attestation agent — run once per unwrap with the nonce. May import: assay.formats, assay.service.credentials,
assay.service.io, assay.errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from assay.errors import EnvironmentFailure, InputError

DEFAULT_TYPE = "https://assay.dev/platform-claims/v1"
ATTESTER_TIMEOUT = 60.0

Attester = Callable[[str], dict[str, Any]]  # the request's nonce -> a signed statement (a bundle as JSON)


@dataclass(frozen=True)
class Evidence:
    """The evidence of one platform; :meth:`body` is called once per unwrap request, with that request's nonce."""

    token: str = ""
    attester: Attester | None = None

    def body(self, nonce: str) -> dict[str, Any]:
        out: dict[str, Any] = {"token": self.token} if self.token else {}
        if self.attester is not None:
            out["attestation"] = self.attester(nonce)
        return out


def of(value: Evidence | str) -> Evidence:
    """Evidence from a bare workload token or as given."""
    return value if isinstance(value, Evidence) else Evidence(token=value)


def _claims_file(path: str) -> tuple[str, dict[str, Any]]:
    """(predicate type, claims) from a JSON file: a plain object of claims (the default type), or
    ``{"predicateType": URI, "predicate": {...}}``."""
    from assay.formats import safejson
    from assay.service.io import read_file

    doc = safejson.load_object(read_file(path, "platform claims file"), what="the platform claims file")
    if "predicateType" in doc:
        ptype, claims = doc.get("predicateType"), doc.get("predicate")
        if not isinstance(ptype, str) or not ptype or not isinstance(claims, dict):
            raise InputError("bad-platform-claims", 'the file is {"predicateType": URI, "predicate": {claims}}')
        return ptype, claims
    return DEFAULT_TYPE, doc


def key_attester(key: str, claims_path: str) -> Attester:
    """An attester signing the claims of ``claims_path`` (with the nonce added) with ``key`` for each request (an
    offline bundle: the broker checks the signature against the project's trust; no log entry is made for it)."""
    from assay.formats import intoto
    from assay.service.credentials import Credentials

    ptype, claims = _claims_file(claims_path)
    if "nonce" in claims:
        raise InputError("bad-platform-claims", "the claims may not hold a nonce: each request adds its own")
    creds = Credentials.resolve(key, None, None, None, ambient=False)
    name = socket.gethostname() or "platform"
    digest = hashlib.sha256(json.dumps(claims, sort_keys=True).encode()).hexdigest()

    def attest(nonce: str) -> dict[str, Any]:
        statement = intoto.Statement((intoto.Subject(name, {"sha256": digest}),), ptype, {**claims, "nonce": nonce})
        return dict(json.loads(creds.sign_statement(statement).to_bytes()))

    return attest


def command_attester(command: str) -> Attester:
    """An attester that runs ``command`` for each request: ``{nonce}`` in its arguments and ASSAY_BROKER_NONCE in
    its environment give the nonce; it prints the signed statement (a bundle, JSON) on stdout."""
    from assay.formats import safejson

    argv = shlex.split(command)
    if not argv:
        raise InputError("bad-attester", "--attester cmd: needs a command")

    def attest(nonce: str) -> dict[str, Any]:
        args = [a.replace("{nonce}", nonce) for a in argv]
        try:
            done = subprocess.run(
                args, capture_output=True, timeout=ATTESTER_TIMEOUT, env={**os.environ, "ASSAY_BROKER_NONCE": nonce}
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EnvironmentFailure("attester-failed", f"the attester {args[0]} did not run: {exc}") from None
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip().splitlines()
            raise EnvironmentFailure(
                "attester-failed", f"the attester {args[0]} exited {done.returncode}: {said[-1] if said else ''}"
            )
        try:
            return safejson.load_object(done.stdout, what="the attester's output")
        except InputError as exc:
            raise InputError("attester-failed", f"the attester {args[0]} printed no bundle: {exc.message}") from None

    return attest


def attester(spec: str, claims_path: str | None) -> Attester:
    """``--attester KEY`` (with ``--platform-claims FILE``) or ``--attester cmd:COMMAND``."""
    if spec.startswith("cmd:"):
        if claims_path:
            raise InputError("usage", "--platform-claims is for a key attester; a command prints its own statement")
        return command_attester(spec.removeprefix("cmd:"))
    if not claims_path:
        raise InputError("usage", "--attester KEY needs --platform-claims FILE (the claims it signs)")
    return key_attester(spec, claims_path)
