"""Operating a transparency log from the outside: info, entries, proofs, monitoring.

The monitor keeps the last verified checkpoint in a state file and accepts a
new one only if it is signed by the pinned log key and a consistency proof
shows it extends the old tree. The key is pinned from ``--trusted-root`` or,
on first use, from the server (recorded in the state file).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.clients.rekor import RekorClient
from assay.errors import InputError, VerificationError
from assay.formats.checkpoint import Checkpoint, parse_checkpoint
from assay.formats.encoding import load_json
from assay.formats.trustroot import LogAuthority, TrustedRoot, parse_trusted_root
from assay.service.io import read_file, write_atomic
from assay.verify import merkle
from assay.verify.tlog import verify_log_signature


def _log_authority(trust: TrustedRoot, server: str) -> LogAuthority:
    base = server.rstrip("/")
    for t in trust.tlogs:
        if t.base_url.rstrip("/") == base:
            return t
    if len(trust.tlogs) == 1:
        return trust.tlogs[0]
    raise InputError("log-not-in-trusted-root", f"the trusted root names no log at {server}")


def verified_checkpoint(note: str, log: LogAuthority) -> Checkpoint:
    """Parse a checkpoint and check the log's signature on it."""
    try:
        cp = parse_checkpoint(note)
    except InputError as exc:
        raise VerificationError("checkpoint-malformed", exc.message, step="checkpoint") from None
    if not any(
        s.key_hint == log.log_id[:4] and verify_log_signature(log, s.signature, cp.signed_text) for s in cp.signatures
    ):
        raise VerificationError(
            "checkpoint-signature-invalid", "the checkpoint is not signed by the pinned log key", step="checkpoint"
        )
    return cp


@dataclass
class MonitorState:
    """What the monitor remembers between runs."""

    size: int
    root_hash: bytes
    checkpoint: str
    trusted_root: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "rootHash": self.root_hash.hex(),
            "checkpoint": self.checkpoint,
            "trustedRoot": self.trusted_root,
        }

    @classmethod
    def load(cls, path: Path) -> MonitorState | None:
        if not path.exists():
            return None
        try:
            d = load_json(path.read_bytes(), str(path))
            return cls(int(d["size"]), bytes.fromhex(d["rootHash"]), d["checkpoint"], d["trustedRoot"])
        except (InputError, ValueError, KeyError, TypeError, AttributeError):
            raise InputError("monitor-state-malformed", f"{path}: not a monitor state file") from None


def monitor_once(server: str, state_path: Path, trusted_root: str | None = None) -> dict[str, Any]:
    """Verify the log's newest checkpoint against the remembered one; update the state on success."""
    client = RekorClient(server)
    state = MonitorState.load(state_path)
    if trusted_root:
        trust_doc = load_json(read_file(trusted_root, "trusted root"), "trusted root")
    elif state is not None:
        trust_doc = state.trusted_root
    else:
        trust_doc = load_json(
            client.trusted_root(), "the log's trusted root"
        )  # first use: pin what the server presents
    log = _log_authority(parse_trusted_root(trust_doc), server)
    info = client.log_info()
    cp = verified_checkpoint(str(info["signedTreeHead"]), log)
    if cp.size != int(info["treeSize"]) or cp.root_hash.hex() != info["rootHash"]:
        raise VerificationError(
            "checkpoint-mismatch", "the log's reported head does not match its signed checkpoint", step="checkpoint"
        )
    report: dict[str, Any] = {"server": server, "size": cp.size, "rootHash": cp.root_hash.hex()}
    if state is not None:
        if cp.size < state.size:
            raise VerificationError(
                "log-shrink", f"the log shrank from {state.size} to {cp.size} entries", step="consistency"
            )
        proof = client.consistency(state.size, cp.size)
        hashes = [bytes.fromhex(h) for h in proof.get("hashes", [])]
        if state.size == 0:
            ok = True
        else:
            ok = merkle.verify_consistency(state.size, cp.size, state.root_hash, cp.root_hash, hashes)
        if not ok:
            raise VerificationError(
                "log-fork",
                f"the checkpoint at size {cp.size} is not consistent with the one verified at size {state.size}",
                step="consistency",
            )
        report["previousSize"] = state.size
    write_atomic(
        str(state_path),
        json.dumps(
            MonitorState(cp.size, cp.root_hash, str(info["signedTreeHead"]), trust_doc).to_json(), indent=2
        ).encode(),
    )
    report["verified"] = True
    return report


def verify_entry(server: str, *, uuid: str | None, index: int | None, trusted_root: str | None) -> dict[str, Any]:
    """Fetch an entry and check its SET, inclusion proof and checkpoint."""
    from assay.verify.tlog import verify_checkpoint, verify_inclusion, verify_promise

    client = RekorClient(server)
    trust = parse_trusted_root(read_file(trusted_root, "trusted root") if trusted_root else client.trusted_root())
    entry = client.entry(uuid=uuid, index=index)
    log = _log_authority(trust, server)
    if entry.log_id != log.log_id:
        raise VerificationError("tlog-unknown-log", "the entry comes from a different log", step="tlog")
    verify_promise(entry, log)
    verify_inclusion(entry)
    verify_checkpoint(entry, log)
    assert entry.inclusion_proof is not None
    return {
        "verified": True,
        "logIndex": entry.log_index,
        "kind": f"{entry.kind}/{entry.version}",
        "integratedTime": entry.integrated_time,
        "treeSize": entry.inclusion_proof.tree_size,
        "body": load_json(entry.canonicalized_body, "log entry body"),
        "bodyBase64": base64.b64encode(entry.canonicalized_body).decode(),
    }
