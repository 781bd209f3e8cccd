"""Use cases for the key broker's clients: keys, signed decryption policies, the audited release record, and
unwrapping through the broker (an age unwrapper that asks the server, which answers with a JWE to a fresh
ephemeral key).

May import: ``clients`` (the broker and log APIs), ``crypt``, ``broker`` (the policy parser, to refuse a bad
document before signing it), ``formats``, ``verify`` (inclusion proofs), ``sign`` (ambient CI tokens).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.clients.broker import BrokerClient
from assay.crypt import age, jwe, p256
from assay.errors import AssayError, InputError, VerificationError
from assay.formats import intoto
from assay.service import platform

DEFAULT_AUDIENCE = "assay-broker"


def evidence_token(token: str | None, audience: str = DEFAULT_AUDIENCE) -> str:
    """The platform's workload token: the one given, else the CI system's own (minted for ``audience``)."""
    if token:
        return token.strip()
    import sys

    from assay.sign import ambient

    found = ambient.detect(audience=audience)
    sys.stderr.write(f"using the identity token from {found.source} (audience {audience})\n")
    return found.token


def load_policy(path: str) -> dict[str, Any]:
    """A decryption policy from a YAML or JSON file, checked as the server will check it."""
    import yaml

    from assay.broker import policy as policies
    from assay.service.io import read_file

    try:
        doc = yaml.safe_load(read_file(path, "decryption policy"))
    except yaml.YAMLError as exc:
        raise InputError("broker-policy-invalid", f"{path}: not YAML/JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise InputError("broker-policy-invalid", f"{path}: the policy is a mapping with a rules list")
    doc = json.loads(json.dumps(doc, default=str))  # YAML timestamps as strings, as the server reads them
    policies.parse(json.dumps(doc).encode())
    checked: dict[str, Any] = doc
    return checked


def policy_statement(client: BrokerClient, doc: dict[str, Any]) -> intoto.Statement:
    """The in-toto statement a policy_writer signs: subject ``PROJECT/KEY``, predicate the policy."""
    from assay.broker import signed

    name = signed.subject_name(client.project, client.name)
    digest = signed.subject_digest(client.project, client.name)
    return intoto.Statement((intoto.Subject(name, {"sha256": digest}),), signed.PREDICATE_TYPE, doc)


def set_policy(client: BrokerClient, path: str, credentials: Any) -> dict[str, Any]:
    """Sign the policy in ``path`` with ``credentials`` (a :class:`~assay.service.credentials.Credentials`) and
    upload it as the key's next policy version."""
    bundle = credentials.sign_statement(policy_statement(client, load_policy(path)))
    return client.put_policy(bundle.to_bytes())


@dataclass
class BrokerUnwrapper:
    """An age unwrapper (:class:`assay.crypt.age.Unwrapper`) that asks the broker for each X25519 or piv-p256
    stanza."""

    client: BrokerClient
    evidence: platform.Evidence | str  # a bare string is a workload token
    released: list[dict[str, Any]] | None = None

    def unwrap(self, stanzas: Sequence[age.Stanza]) -> bytes | None:
        last: AssayError | None = None
        for st in stanzas:
            if st.type not in ("X25519", p256.STANZA_TYPE):
                continue
            try:
                return self.unwrap_one(st)
            except AssayError as exc:
                if exc.reason != "stanza-not-for-key":
                    raise
                last = exc
        if last is not None:
            raise VerificationError("no-matching-identity", last.message)
        return None

    def unwrap_one(self, st: age.Stanza) -> bytes:
        eph = ec.generate_private_key(ec.SECP256R1())
        pem = eph.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        nonce = os.urandom(16).hex()
        body = {
            "stanza": {"type": st.type, "args": list(st.args), "body": base64.b64encode(st.body).decode()},
            "ephemeralKey": pem.decode(),
            "nonce": nonce,
            "timestamp": time.time(),
            "evidence": platform.of(self.evidence).body(nonce),
        }
        out = self.client.unwrap(body)
        if self.released is not None:
            self.released.append({"logIndex": out.get("logIndex"), "keyVersion": out.get("keyVersion")})
        return jwe.decrypt(str(out["jwe"]).encode(), [eph])


def recipient(spec: str, token: str | None = None) -> age.Wrapper:
    """The age recipient of a ``broker:URL/PROJECT/KEY`` (the key's newest version, fetched from the server):
    X25519 (``age1…``) for a file-held key, P-256 (``age1yubikey1…``) for one in an HSM or KMS."""
    return p256.any_recipient(str(BrokerClient.parse(spec, token).key()["recipient"]))


PROVIDER = "assay"  # the ocicrypt key-provider name: annotation org.opencontainers.image.enc.keys.provider.assay


def wrap_opts(spec: str, opts: bytes, token: str | None = None) -> bytes:
    """A layer's private options wrapped for a broker key, as the key-provider protocol's annotation: JSON
    ``{"broker": "URL/PROJECT/KEY", "age": base64 of an age file of the options}``."""
    import io

    client = BrokerClient.parse(spec, token)
    sink = io.BytesIO()
    age.encrypt(io.BytesIO(opts), sink, [p256.any_recipient(str(client.key()["recipient"]))])
    doc = {"broker": client.spec.removeprefix("broker:"), "age": base64.b64encode(sink.getvalue()).decode()}
    return json.dumps(doc, separators=(",", ":")).encode()


def pinned_to(client: BrokerClient, pinned: Sequence[str]) -> bool:
    """Whether ``client``'s key is on (or is) one of ``pinned`` (server URLs or ``broker:`` specs)."""
    whole = client.spec.removeprefix("broker:")
    for p in pinned:
        p = p.removeprefix("broker:").rstrip("/")
        if whole == p or client.url == p or whole.startswith(p + "/"):
            return True
    return False


def unwrap_opts(
    annotation: bytes, evidence: platform.Evidence | str, pinned: Sequence[str], token: str | None = None
) -> bytes:
    """The private options out of a :func:`wrap_opts` annotation, through its broker — which must be on one of
    the ``pinned`` servers (the platform's evidence is never sent to a server the image names on its own)."""
    import io

    try:
        doc = json.loads(annotation)
        spec, wrapped = str(doc["broker"]), base64.b64decode(str(doc["age"]), validate=True)
    except (ValueError, KeyError, TypeError):
        raise InputError(
            "malformed-encryption-annotations", "the assay key-provider annotation does not parse"
        ) from None
    client = BrokerClient.parse(spec, token)
    if not pinned_to(client, pinned):
        raise InputError(
            "broker-not-pinned", f"the layer's broker {client.url} is not one given with --broker ({list(pinned)})"
        )
    sink = io.BytesIO()
    age.decrypt(io.BytesIO(wrapped), sink, [BrokerUnwrapper(client, evidence)])
    return sink.getvalue()


def split_header(data_or_path: str | bytes) -> tuple[bytes, int]:
    """An age file's header bytes and the payload's offset."""
    import io

    from assay.service.io import open_source

    cm: Any = contextlib.nullcontext(io.BytesIO(data_or_path)) if isinstance(data_or_path, bytes) else None
    with cm or open_source(str(data_or_path)) as src:
        _, macked, mac = age.read_header(src)
        offset = src.tell()
    return age.header_bytes(macked, mac), offset


def rewrap_file(client: BrokerClient, path: str, out: str) -> dict[str, Any]:
    """Re-wrap an age file for the key's newest version: the server swaps the stanza and recomputes the header
    MAC; the payload is copied byte for byte (not re-encrypted)."""
    from assay.service.io import atomic_sink, open_source

    header, offset = split_header(path)
    result = client.rewrap(header)
    fresh = base64.b64decode(result["header"])
    with open_source(path) as src, atomic_sink(out, 0o644) as sink:
        src.seek(offset)
        sink.write(fresh)
        while chunk := src.read(1 << 20):
            sink.write(chunk)
    return {k: result[k] for k in ("fromVersion", "toVersion", "logIndex")}


def rewrap_annotation(client: BrokerClient, annotation: bytes) -> bytes:
    """A :func:`wrap_opts` annotation re-wrapped for the key's newest version (another key's: unchanged)."""
    try:
        doc = json.loads(annotation)
        wrapped = base64.b64decode(str(doc["age"]), validate=True)
        spec = str(doc["broker"])
    except (ValueError, KeyError, TypeError):
        raise InputError(
            "malformed-encryption-annotations", "the assay key-provider annotation does not parse"
        ) from None
    if spec != client.spec.removeprefix("broker:"):
        return annotation
    header, offset = split_header(wrapped)
    fresh = base64.b64decode(client.rewrap(header)["header"]) + wrapped[offset:]
    return json.dumps({"broker": spec, "age": base64.b64encode(fresh).decode()}, separators=(",", ":")).encode()


def audit(client: BrokerClient, trusted_root: str | None = None) -> list[dict[str, Any]]:
    """The key's release record, each entry checked in the transparency log: the logged digest is the
    statement's, the inclusion proof leads to a checkpoint signed by the log key."""
    from assay.clients.rekor import RekorClient
    from assay.formats.rekor import parse_body
    from assay.formats.trustroot import parse_trusted_root
    from assay.service.io import read_file
    from assay.verify import tlog

    rekor = RekorClient(client.url)
    raw = read_file(trusted_root, "trusted root") if trusted_root else rekor.trusted_root()
    root = parse_trusted_root(raw)
    out = []
    for rel in client.releases():
        statement = base64.b64decode(rel["statementBase64"])
        row = {"logIndex": rel["logIndex"], "decision": rel["decision"], **_summary(rel["statement"])}
        try:
            entry = rekor.entry(index=int(rel["logIndex"]))
            body = parse_body(entry.canonicalized_body, entry.kind, entry.version)
            if body.digest != hashlib.sha256(statement).digest():
                raise VerificationError("release-not-logged", "the log entry does not commit to this release")
            log = root.tlog(entry.log_id)
            if log is None:
                raise VerificationError("tlog-unknown-log", "the entry's log is not in the trusted root")
            if entry.inclusion_proof is None:
                raise VerificationError("inclusion-proof-missing", "the log gave no inclusion proof")
            tlog.verify_inclusion(entry)
            tlog.verify_checkpoint(entry, log)
            row["verified"] = True
        except AssayError as exc:
            row["verified"], row["reason"] = False, exc.reason
        out.append(row)
    return out


def _summary(statement: dict[str, Any]) -> dict[str, Any]:
    keep = ("keyVersion", "policyVersion", "policyDigest", "identity", "requester", "evidenceDigest", "time")
    out = {k: statement.get(k) for k in keep}
    if statement.get("decision") == "refused":
        out["refusal"] = statement.get("reason")
    return out


def keyprovider(request: bytes, pinned: Sequence[str], evidence: Any, token: str | None = None) -> bytes:
    """One exchange of ocicrypt's key-provider protocol (the ``cmd`` variant): ``keywrap`` wraps the layer's
    private options for the broker key named by ``provider:assay:URL/PROJECT/KEY``; ``keyunwrap`` unwraps them
    through the broker, showing ``evidence()`` (called only then), to a broker in ``pinned`` or named by the
    decryption key's parameters. Go's JSON encodes byte slices as standard base64."""
    try:
        doc = json.loads(request)
        op = doc["op"]
    except (ValueError, KeyError, TypeError):
        raise InputError("bad-keyprovider-request", "stdin is not a key-provider protocol request") from None

    def params(config: Any) -> list[str]:
        raw = ((config or {}).get("Parameters") or {}).get(PROVIDER) or []
        return [base64.b64decode(v).decode(errors="replace") for v in raw]

    try:
        if op == "keywrap":
            wp = doc["keywrapparams"]
            specs = [p for p in params(wp.get("ec")) if p != "Enabled"]
            if not specs:
                raise InputError("no-recipients", "give the broker key as provider:assay:URL/PROJECT/KEY")
            opts = base64.b64decode(wp["optsdata"])
            annotation = wrap_opts("broker:" + specs[0].removeprefix("broker:"), opts, token)
            return json.dumps({"keywrapresults": {"annotation": base64.b64encode(annotation).decode()}}).encode()
        if op == "keyunwrap":
            up = doc["keyunwrapparams"]
            allowed = [*pinned, *(p for p in params(up.get("dc")) if p != "Enabled")]
            opts = unwrap_opts(base64.b64decode(up["annotation"]), evidence(), allowed, token)
            return json.dumps({"keyunwrapresults": {"optsdata": base64.b64encode(opts).decode()}}).encode()
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError("bad-keyprovider-request", f"the {op} request lacks a field: {exc}") from None
    raise InputError("bad-keyprovider-request", f"unknown key-provider operation {op!r}")
