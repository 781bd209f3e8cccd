"""Rotated Sigstore keys and certificates (``assay server rotate-key``) and their place in ``trusted_root.json``.

``rotate-key KIND`` runs against a stopped server's data directory: it records the current material of KIND
(log or CT key, CA or TSA chain) in ``trust-history.json`` with its ``validFor`` window ended now, and moves its
files to ``keys/retired/`` (nothing is deleted). The next start generates new material; :func:`merge` gives the
current entry ``validFor.start`` = the rotation time and appends every retired entry, so bundles made before the
rotation keep verifying; the start republishes ``trusted_root.json`` over TUF (``routes_tuf.republish_trust``).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from assay.crypto import keys
from assay.errors import InputError

HISTORY = "trust-history.json"
# kind -> (trusted root field, key files under keys/, certificate files under ca/ (issuing first, root last))
KINDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "log": ("tlogs", ("log",), ()),
    "ctlog": ("ctlogs", ("ctlog",), ()),
    "ca": ("certificateAuthorities", ("fulcio", "fulcio-root"), ("fulcio-intermediate.pem", "fulcio-root.pem")),
    "tsa": ("timestampAuthorities", ("tsa", "tsa-root"), ("tsa-leaf.pem", "tsa-root.pem")),
}


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load(data_dir: Path) -> dict[str, Any]:
    path = data_dir / HISTORY
    if not path.is_file():
        return {"rotated": {}, "retired": []}
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def rotate(data_dir: Path, kind: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Retire KIND's current material (window ends ``now``); returns the history entry written."""
    if kind not in KINDS:
        raise InputError("rotate-kind-unknown", f"unknown key kind {kind!r} (log, ca, tsa, ctlog)")
    _field, key_names, cert_names = KINDS[kind]
    key_files = [data_dir / "keys" / f"{n}.pem" for n in key_names]
    cert_files = [data_dir / "ca" / n for n in cert_names]
    missing = [str(p) for p in [*key_files, *cert_files] if not p.is_file()]
    if missing:
        raise InputError(
            "rotate-key-missing", f"no {kind} material in {data_dir}: {', '.join(missing)}",
            hint="rotate-key works on a data directory the server has started with (keys it generated itself)",
        )  # fmt: skip
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    hist = load(data_dir)
    entry: dict[str, Any] = {"kind": kind, "end": _stamp(now)}
    if cert_files:
        chain = [x509.load_pem_x509_certificate(p.read_bytes()) for p in cert_files]
        entry["certificates"] = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain]
        start = chain[-1].not_valid_before_utc
    else:
        public = keys.load_private(key_files[0], None).public_key()
        entry["spki"] = base64.b64encode(keys.spki_der(public)).decode()
        start = dt.datetime.fromtimestamp(key_files[0].stat().st_mtime, dt.UTC) - dt.timedelta(seconds=1)
    previous = hist["rotated"].get(kind)
    entry["start"] = previous or _stamp(start)
    retired = data_dir / "keys" / "retired"
    retired.mkdir(parents=True, exist_ok=True, mode=0o700)
    tag = now.strftime("%Y%m%dT%H%M%SZ")
    for p in [*key_files, *cert_files]:
        shutil.move(str(p), str(retired / f"{p.stem}-{tag}{p.suffix}"))
    hist["retired"].append(entry)
    hist["rotated"][kind] = _stamp(now)
    tmp = data_dir / (HISTORY + ".tmp")
    tmp.write_text(json.dumps(hist, indent=2) + "\n")
    tmp.replace(data_dir / HISTORY)
    return entry


def merge(data_dir: Path, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (the current trusted root) with rotation starts applied and every retired entry appended."""
    hist = load(data_dir)
    for kind, (field, _keys, _certs) in KINDS.items():
        current = doc.get(field) or []
        if not current:
            continue
        template = current[0]
        if kind in hist["rotated"]:
            for e in current:
                _window(e)["start"] = hist["rotated"][kind]
        for r in (r for r in hist["retired"] if r["kind"] == kind):
            old = copy.deepcopy(template)
            if "certificates" in r:
                old["certChain"] = {"certificates": [{"rawBytes": c} for c in r["certificates"]]}
            else:
                spki = base64.b64decode(r["spki"])
                old["publicKey"]["rawBytes"] = r["spki"]
                old["logId"] = {"keyId": base64.b64encode(hashlib.sha256(spki).digest()).decode()}
            window = _window(old)
            window.clear()
            window.update({"start": r["start"], "end": r["end"]})
            current.append(old)
    return doc


def _window(entry: dict[str, Any]) -> dict[str, Any]:
    """The ``validFor`` of a trusted root entry (on ``publicKey`` for logs, on the entry for authorities)."""
    holder = entry["publicKey"] if "publicKey" in entry else entry
    window: dict[str, Any] = holder.setdefault("validFor", {})
    return window
