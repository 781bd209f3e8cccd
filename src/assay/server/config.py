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
DEV_ADMIN = "admin@example.com"


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
    oidc_jwks: list[str] = field(default_factory=list)  # "ISSUER=PATH": a static JWKS or SPIFFE bundle per issuer
    ca_key: str | None = None  # signer URI or key file for the issuing CA (default: generated)
    audience: str = "sigstore"
    extra: dict[str, str] = field(default_factory=dict)
    admins: list[str] = field(default_factory=list)  # "ISSUER=SUBJECT": server administrators
    log_write: str = "open"  # "open" (Sigstore-compatible) or "require-token"
    rate_limit: str | None = None  # writes per identity and per address, e.g. "600/m"
    login_rate_limit: str = "120/m"  # logins, token issuing and failed authentications per address
    audit_anchor_interval: float = 300.0  # seconds between anchoring the audit head in the log
    profile_tick: float = 5.0  # seconds between the profile scheduler's looks for due work (0: no scheduler)
    profile_workers: int = 8  # entities evaluated at once (registry round trips overlap)
    profile_min_interval: float = 30.0  # the shortest re-evaluation interval a profile may ask for
    alert_attempts: int = 5  # deliveries of an alert before it is dead-lettered
    alert_backoff: float = 2.0  # seconds before the first retry (doubling after each failure)
    dev_github_issuer: str | None = None  # --dev only: the GitHub-shaped issuer's `iss` (CI rehearsals)
    tuf_online_keys: list[str] = field(default_factory=list)  # TUF snapshot/timestamp signers (+ the data dir's key)
    tuf_trust_project: str | None = None  # the project whose TUF repository carries the server's Sigstore trust
    tuf_tick: float = 60.0  # seconds between looks for snapshots/timestamps to re-sign (0: off)
    tuf_snapshot_expiry: float = 7 * 86400.0  # seconds a snapshot is valid (re-signed at half)
    tuf_timestamp_expiry: float = 86400.0  # seconds a timestamp is valid (re-signed at half)
    registry_services: list[str] = field(default_factory=list)  # registry token service: accepted `service`s
    registry_token_alg: str = "ES256"  # or RS256
    registry_token_lifetime: int = 300  # seconds
    registry_token_x5c: bool = False  # also put the signing certificate in each token's x5c header

    @property
    def dev_github_issuer_url(self) -> str:
        """The --dev GitHub-shaped issuer's URL: URL/dev/oidc/github, or the one --dev-github-issuer names."""
        return self.dev_github_issuer or self.url.rstrip("/") + "/dev/oidc/github"

    @property
    def dev_issuer(self) -> str:
        """The --dev OIDC issuer's URL."""
        return self.url.rstrip("/") + "/dev/oidc"

    def server_admins(self) -> frozenset[tuple[str, str]]:
        """(issuer, subject) pairs from --admin, plus the dev issuer's admin@example.com under --dev."""
        from assay.errors import InputError

        found = set()
        for spec in self.admins:
            issuer, sep, subject = spec.partition("=")
            if not sep or not issuer.startswith(("https://", "http://")) or not subject:
                raise InputError("bad-admin", f"--admin {spec!r}: expected ISSUER=SUBJECT (issuer URL, then subject)")
            found.add((issuer.rstrip("/"), subject))
        if self.dev:
            found.add((self.dev_issuer, DEV_ADMIN))
        return frozenset(found)

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
