"""Server settings and the keys kept in the data directory."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from assay.crypto import keys
from assay.crypto import signer as signers
from assay.crypto.signer import Signer

MAX_BODY_BYTES = 4 * 1024 * 1024


@dataclass
class Settings:
    """Everything ``assay server`` is configured with."""

    data_dir: Path
    database: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    dev: bool = False
    public_url: str | None = None
    log_name: str = "assay"
    log_key: str | None = None  # signer URI or key file; default: generated in the data directory
    workers: int = 1
    oidc_issuers: list[str] = field(default_factory=list)  # "URL[=type]"
    ca_key: str | None = None  # signer URI or key file for the issuing CA (default: generated)
    audience: str = "sigstore"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"


def key_in_data_dir(data_dir: Path, name: str, key_type: str = "ecdsa-p256") -> Signer:
    """Load ``keys/<name>.pem`` from the data directory, generating it (mode 0600) on first start."""
    path = data_dir / "keys" / f"{name}.pem"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        try:
            keys.write_private(path, keys.private_pem(keys.generate(key_type), None))
        except Exception:
            if not path.exists():
                raise
    return signers.KeyFileSigner(keys.load_private(path, None))


def signer_for(spec: str | None, data_dir: Path, name: str) -> Signer:
    """A signer from a URI or key file, or the data directory's own key."""
    if spec:
        return signers.load(spec, os.environ.get("ASSAY_PASSWORD", "").encode() or None)
    return key_in_data_dir(data_dir, name)


def tree_id(data_dir: Path) -> str:
    """A stable random identifier for this log instance (part of the checkpoint origin)."""
    path = data_dir / "tree-id"
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pass  # another worker created it
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(str(secrets.randbits(62)))
    return path.read_text().strip()
