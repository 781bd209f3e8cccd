"""in-toto use cases at the I/O edge: record steps, write and sign layouts, read link directories, verify."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.crypto import keys
from assay.crypto import signer as signers
from assay.errors import InputError, VerificationError
from assay.formats import safejson
from assay.layout import envelope
from assay.layout.envelope import SignedDoc, parse_signed
from assay.layout.model import Item, Link, parse_artifacts
from assay.service.io import password, read_file, write_atomic

if TYPE_CHECKING:  # signing pulls in the clients; verification does not need them
    from assay.formats.trustroot import TrustedRoot
    from assay.layout import yamlform
    from assay.layout.verify import LayoutResult
    from assay.service import artifacts
    from assay.service.credentials import Credentials

# Imported where used, to keep start-up short: artifacts (pathspec) only records, yamlform (PyYAML) only
# converts YAML layouts, trustroot (x509) only serves keyless links.

LINK_SUFFIXES = (".link", ".sigstore.json")


@dataclass(frozen=True)
class Recording:
    """How a step's artifacts are recorded."""

    materials: list[str]
    products: list[str]
    base_path: str | None = None
    excludes: list[str] | None = None
    lstrip_paths: list[str] | None = None

    def hash(self, which: str, cache: artifacts.DigestCache | None = None) -> dict[str, dict[str, str]]:
        """Hash the materials or the products now (reusing ``cache``'s digests of files unchanged since)."""
        from assay.service import artifacts

        paths = self.materials if which == "materials" else self.products
        return artifacts.record(
            paths, base_path=self.base_path, excludes=self.excludes, lstrip_paths=self.lstrip_paths, cache=cache
        )


@dataclass(frozen=True)
class LinkOutput:
    """Where and in which form a link is written."""

    links_dir: str = "."
    legacy: bool = False
    dsse: bool = False


def check_step_name(step: str) -> str:
    """A step name that is safe as the start of a file name in the links directory (no path, not hidden)."""
    bad = (
        not step
        or len(step) > 200
        or step.startswith(".")
        or any(c in step for c in "/\\\0")
        or any(ord(c) < 0x20 for c in step)
    )
    if bad:
        raise InputError(
            "step-name-invalid",
            f"step name {step!r}: must not be empty, start with '.', or hold '/', '\\' or control characters "
            "(links are written as STEP.KEYID.link in the links directory)",
        )
    return step


def _signed_link(link: Link, creds: Credentials, out: LinkOutput) -> tuple[bytes, str]:
    if out.legacy or out.dsse:
        if creds.signer is None:
            raise InputError("usage", "--legacy and --dsse links are signed with --key; keyless links are bundles")
        s = envelope.sslib_signer(creds.signer)
        doc = (envelope.sign_dsse if out.dsse else envelope.sign_metablock)([s], link.to_dict())
        return json.dumps(doc, indent=1, sort_keys=True).encode(), f"{link.name}.{s.public_key.keyid[:8]}.link"
    bundle = creds.sign_statement(envelope.link_statement(link))
    if creds.signer is not None:
        ident = envelope.key_dict_from_public(creds.signer.public_key)["keyid"]
    else:
        ident = hashlib.sha256(bundle.certificates[0]).hexdigest()
    return bundle.to_bytes(), f"{link.name}.{ident[:8]}.link.sigstore.json"


def _write_link(link: Link, creds: Credentials, out: LinkOutput) -> str:
    data, name = _signed_link(link, creds, out)
    Path(out.links_dir).mkdir(parents=True, exist_ok=True)
    path = os.path.join(out.links_dir, name)
    write_atomic(path, data)
    return path


def run_step(
    step: str,
    command: list[str],
    rec: Recording,
    creds: Credentials,
    out: LinkOutput,
    *,
    record_streams: bool = False,
) -> tuple[int, str]:
    """Hash materials, run the command, hash products, write the signed link; returns (exit code, link path)."""
    from assay.service import artifacts

    check_step_name(step)
    cache = artifacts.DigestCache()  # a material the command leaves alone is hashed once
    materials = rec.hash("materials", cache)
    code, byproducts = _execute(command, record_streams, rec.base_path)
    link = Link(step, list(command), materials, rec.hash("products", cache), byproducts, {})
    return code, _write_link(link, creds, out)


def _execute(command: list[str], record_streams: bool, cwd: str | None) -> tuple[int, dict[str, Any]]:
    if not command:
        return 0, {}
    try:
        if record_streams:
            proc = subprocess.run(command, capture_output=True, cwd=cwd)
            sys.stdout.buffer.write(proc.stdout)
            sys.stderr.buffer.write(proc.stderr)
            streams = {
                "stdout": proc.stdout.decode("utf-8", "replace"),
                "stderr": proc.stderr.decode("utf-8", "replace"),
            }
        else:
            proc = subprocess.run(command, cwd=cwd)
            streams = {"stdout": "", "stderr": ""}
    except FileNotFoundError:
        raise InputError("command-not-found", f"{command[0]}: command not found") from None
    except PermissionError:
        raise InputError("command-not-executable", f"{command[0]}: permission denied") from None
    return proc.returncode, {"return-value": proc.returncode, **streams}


def _state_path(links_dir: str, step: str) -> Path:
    return Path(links_dir) / f".{step}.link-unfinished.json"


def record_start(step: str, rec: Recording, out: LinkOutput) -> str:
    """Hash the materials now and keep them (unsigned, local) until ``record stop``."""
    check_step_name(step)
    state = {"step": step, "materials": rec.hash("materials")}
    Path(out.links_dir).mkdir(parents=True, exist_ok=True)
    path = _state_path(out.links_dir, step)
    write_atomic(str(path), json.dumps(state).encode())
    return str(path)


def record_stop(step: str, rec: Recording, creds: Credentials, out: LinkOutput) -> str:
    """Hash the products, sign the link with the materials kept by ``record start``."""
    check_step_name(step)
    path = _state_path(out.links_dir, step)
    if not path.exists():
        raise InputError(
            "record-not-started", f"no recording in progress for step {step!r}", hint="run assay record start"
        )
    state = safejson.load_object(read_file(str(path), "recording state"))
    if state.get("step") != step:
        raise InputError("record-state-invalid", f"{path}: belongs to another step")
    materials = state.get("materials") or {}
    link = Link(step, [], parse_artifacts(materials, str(path)), rec.hash("products"))
    written = _write_link(link, creds, out)
    path.unlink()
    return written


# ---- layouts ---------------------------------------------------------------------------------------------


def _key_loader(base: Path) -> yamlform.KeyLoader:
    def load(name: str) -> keys.PublicKey:
        p = Path(name)
        return keys.load_public(p if p.is_absolute() else base / p)

    return load


def layout_init(out: str, functionaries: dict[str, str], days: int) -> str:
    """Write a starting YAML layout."""
    from assay.layout import yamlform

    if Path(out).exists():
        raise InputError("file-exists", f"{out}: already exists; refusing to overwrite")
    try:
        expires = (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:
        raise InputError("usage", f"--expires-days {days}: beyond the year 9999") from None
    if days < 1:
        raise InputError("usage", f"--expires-days {days}: a layout must expire in the future")
    text = yamlform.template(expires, functionaries)
    write_atomic(out, text.encode())
    return out


def load_layout_source(path: str) -> tuple[dict[str, Any], Any]:
    """A YAML layout converted to the in-toto document (keys resolved relative to the file)."""
    from assay.layout import yamlform

    text = read_file(path, "layout").decode("utf-8", "replace")
    return yamlform.convert(text, path, _key_loader(Path(path).parent))


def layout_sign(path: str, key_refs: list[str], out: str | None, password_file: str | None) -> str:
    """Sign a YAML layout (converted) or an in-toto layout (adding signatures) with every key."""
    if not key_refs:
        raise InputError("usage", "give at least one --key")
    raw = read_file(path, "layout")
    signatures: list[dict[str, Any]] = []
    if raw.lstrip().startswith(b"{"):
        sd = parse_signed(raw, path)
        if sd.form != "metablock" or sd.kind != "layout":
            raise InputError("layout-malformed", f"{path}: not an in-toto layout Metablock")
        doc = sd.document
        signatures = list(sd.raw_signatures)  # as written: gpg entries keep their other_headers
        from assay.layout.functionary import parse_checked

        parse_checked(doc, path)
    else:
        doc, _ = load_layout_source(path)
    sslib = [envelope.sslib_signer(signers.load(k, password(password_file))) for k in key_refs]
    signed = envelope.sign_metablock(sslib, doc)
    new_ids = {s["keyid"] for s in signed["signatures"]}
    signed["signatures"] = [s for s in signatures if s["keyid"] not in new_ids] + signed["signatures"]
    target = out or (str(Path(path).with_suffix("")) + ".layout")
    write_atomic(target, json.dumps(signed, indent=1, sort_keys=True).encode() + b"\n")
    return target


# ---- verification ----------------------------------------------------------------------------------------


class DirLinkStore:
    """Links in a directory: ``*.link`` (Metablock or DSSE) and ``*.sigstore.json`` bundles."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def links(self) -> list[tuple[str, SignedDoc]]:
        """Every link file in the directory, parsed."""
        if not self.path.is_dir():
            return []
        out = []
        for entry in sorted(self.path.iterdir()):
            if entry.name.startswith(".") or not entry.name.endswith(LINK_SUFFIXES) or not entry.is_file():
                continue
            out.append((entry.name, parse_signed(read_file(str(entry), "link"), entry.name)))
        return out

    def sub(self, name: str) -> DirLinkStore:
        """The sublayout's link directory ``STEP.KEYID8`` (a step name holding a path is refused)."""
        if name.startswith(".") or any(c in name for c in "/\\\0"):
            raise InputError(
                "link-path-invalid", f"sublayout directory {name!r}: a step name must not hold a path or start with '.'"
            )
        return DirLinkStore(str(self.path / name))


def _trust(trusted_root: str | None, server: str | None) -> TrustedRoot | None:
    if not trusted_root and not server:
        return None
    from assay.formats.trustroot import parse_trusted_root

    if trusted_root:
        return parse_trusted_root(read_file(trusted_root, "trusted root"))
    if server:
        from assay.clients.rekor import RekorClient

        return parse_trusted_root(RekorClient(server).trusted_root())
    return None


def _inspection_runner(cwd: str) -> Any:
    from assay.service import artifacts

    cache = artifacts.DigestCache()  # shared by every inspection: each unchanged file is hashed once

    def run(item: Item) -> Link:
        materials = artifacts.record(["."], base_path=cwd, cache=cache)
        code, byproducts = _execute(item.run, True, cwd)
        if code != 0:
            raise VerificationError(
                "inspection-failed",
                f"inspection {item.name!r}: {' '.join(item.run)} exited with {code}",
                step=item.name,
            )
        return Link(item.name, item.run, materials, artifacts.record(["."], base_path=cwd, cache=cache), byproducts)

    return run


@dataclass(frozen=True)
class VerifyRequest:
    """What ``assay verify-layout`` was asked to check."""

    layout: str
    layout_keys: list[str]
    links: str
    artifacts_dir: str | None = None
    run_inspections: bool = False
    layout_source: str | None = None
    trusted_root: str | None = None
    server: str | None = None
    artifacts_excludes: tuple[str, ...] = ()


def load_layout_key(path: str) -> dict[str, Any]:
    """A ``--layout-key`` file as a layout key entry: a PEM public key, or an OpenPGP public key (in-toto gpg)."""
    from assay.pgp import intoto as pgp_intoto

    data = read_file(path, "layout key")
    if pgp_intoto.is_openpgp(data):
        return pgp_intoto.key_dict(data, path)
    return envelope.key_dict_from_public(keys.load_public(Path(path)))


def verify(req: VerifyRequest, now: datetime | None = None) -> LayoutResult:
    """Verify a signed layout against a links directory (and the final artifacts, when given)."""
    from assay.layout import jsonlocate
    from assay.layout.verify import Options, verify_layout

    raw = read_file(req.layout, "layout")
    sd = parse_signed(raw, req.layout)
    if req.layout_source:
        doc, parsed = load_layout_source(req.layout_source)
        if envelope.canonical(doc) != envelope.canonical(sd.document):
            raise InputError("layout-source-mismatch", f"{req.layout_source}: does not convert to the signed layout")
        locations = parsed.locations
    else:
        locations = jsonlocate.json_locations(raw.decode("utf-8", "replace"), req.layout)
    layout_keys = [load_layout_key(k) for k in req.layout_keys]
    opts = Options(
        now or datetime.now(UTC),
        _trust(req.trusted_root, req.server),
        _inspection_runner(req.artifacts_dir or ".") if req.run_inspections else None,
    )
    result = verify_layout(sd, layout_keys, DirLinkStore(req.links), opts, where=req.layout, locations=locations)
    if req.artifacts_dir and result.summary is not None:
        _check_final_artifacts(req.artifacts_dir, result, list(req.artifacts_excludes))
    return result


def _check_final_artifacts(directory: str, result: LayoutResult, excludes: list[str]) -> None:
    """Every file in ``directory`` (none skipped but by ``--artifacts-exclude``) is a product of the last step."""
    from assay.service import artifacts

    assert result.summary is not None
    expected = result.summary.products
    found = artifacts.record(
        ["."], base_path=artifacts.tree_path(directory).as_posix(), excludes=excludes, default_excludes=False
    )
    for path, digest in sorted(found.items()):
        if path not in expected:
            raise VerificationError(
                "artifact-not-produced", f"{directory}/{path}: not a product of the last step", step="artifacts"
            )
        if expected[path].get("sha256") != digest["sha256"]:
            raise VerificationError(
                "artifact-digest-mismatch",
                f"{directory}/{path}: sha256 {digest['sha256']} on disk, {expected[path].get('sha256')} in the last step's link",
                step="artifacts",
            )
    skipped = f" (skipping {', '.join(excludes)})" if excludes else ""
    result.notes.append(f"{len(found)} artifact(s) in {directory} match the products of the last step{skipped}")
