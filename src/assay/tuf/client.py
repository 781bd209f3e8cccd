"""The TUF client: python-tuf's ``ngclient`` with a bootstrap root, an offline mode and one reason per attack.

A client keeps one directory per repository: ``root.json`` (the trust anchor, set by :func:`init` from a root the
user got out of band, never on first use), the other top-level and delegated metadata under their plain names,
``root_history/N.root.json``, ``targets/`` for downloads and ``assay-client.cfg`` (the repository's URLs).

:func:`refresh` and :func:`download` run the TUF client workflow through ``ngclient.Updater``. With
``offline=True`` nothing is fetched: the cached metadata is loaded through the same trusted-metadata state
machine and accepted only while every role in the chain is unexpired (python-tuf#2359); a role or target that
is not cached is refused with ``tuf-offline-missing``.

Every failure becomes one :class:`~assay.errors.AssayError` (:func:`refusal`): exit 1 with a reason naming the
attack when the repository's answer is refused, 3 when it cannot be reached, 2 for unusable local input.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NoReturn
from urllib import parse

from tuf.api import exceptions
from tuf.api.metadata import Metadata, Root, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.serialization import DeserializationError
from tuf.ngclient import Updater, UpdaterConfig
from tuf.ngclient.urllib3_fetcher import Urllib3Fetcher

from assay.errors import AssayError, EnvironmentFailure, InputError, VerificationError

CONFIG_NAME = "assay-client.cfg"
TOP_LEVEL = (Root.type, Timestamp.type, Snapshot.type, Targets.type)


@dataclass
class ClientDirs:
    """Where one repository's client state lives and where it is fetched from."""

    metadata_dir: Path
    metadata_url: str | None = None
    target_base_url: str | None = None
    target_dir: Path | None = None

    @property
    def targets(self) -> Path:
        return self.target_dir or self.metadata_dir / "targets"


@dataclass
class RoleState:
    name: str
    version: int
    expires: str


@dataclass
class Fetched:
    """What :func:`download` did for one target path."""

    name: str
    path: Path
    cached: bool
    length: int
    sha256: str | None


@dataclass
class _Seen:
    """The last metadata a refusal can be explained by (URL and bytes), recorded by :class:`_RecordingFetcher`."""

    url: str = ""
    data: bytes = b""
    target: bool = False
    urls: list[str] = field(default_factory=list)
    updater: Updater | None = None


def default_dir(metadata_url: str) -> Path:
    """``$XDG_DATA_HOME/assay/tuf/<host>-<hash>/metadata`` for a repository URL (one trust anchor per URL)."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    url = metadata_url.rstrip("/")
    host = re.sub(r"[^A-Za-z0-9.-]+", "_", parse.urlsplit(url).netloc) or "local"
    return base / "assay" / "tuf" / f"{host}-{hashlib.sha256(url.encode()).hexdigest()[:12]}" / "metadata"


def _config_path(metadata_dir: Path) -> Path:
    return metadata_dir / CONFIG_NAME


def load_dirs(
    metadata_dir: Path | None,
    metadata_url: str | None,
    target_base_url: str | None = None,
    target_dir: Path | None = None,
) -> ClientDirs:
    """The client directory for ``metadata_dir`` (or the default one of ``metadata_url``), URLs filled from init."""
    if metadata_dir is None:
        if metadata_url is None:
            raise InputError("tuf-client-unconfigured", "give --metadata-dir or --metadata-url")
        metadata_dir = default_dir(metadata_url)
    dirs = ClientDirs(metadata_dir, metadata_url, target_base_url, target_dir)
    cfg = _config_path(metadata_dir)
    if cfg.is_file():
        try:
            stored = json.loads(cfg.read_text())
        except (OSError, ValueError) as exc:
            raise InputError("tuf-client-config-invalid", f"{cfg}: {exc}") from None
        dirs.metadata_url = dirs.metadata_url or stored.get("metadata_url")
        dirs.target_base_url = dirs.target_base_url or stored.get("target_base_url")
    if dirs.target_base_url is None and dirs.metadata_url is not None:
        dirs.target_base_url = dirs.metadata_url.rstrip("/") + "/targets/"
    return dirs


def init(root_data: bytes, dirs: ClientDirs) -> Root:
    """Make ``root_data`` the trust anchor of ``dirs`` (it must be a root signed by its own threshold)."""
    try:
        root = Metadata[Root].from_bytes(root_data)
    except (DeserializationError, ValueError, TypeError, KeyError) as exc:
        raise InputError("tuf-root-invalid", f"not TUF root metadata: {exc}") from None
    if not isinstance(root.signed, Root):
        raise InputError("tuf-root-invalid", f"not TUF root metadata (type {root.signed.type})")
    try:
        root.signed.verify_delegate(Root.type, root.signed_bytes, root.signatures)
    except exceptions.UnsignedMetadataError as exc:
        raise InputError("tuf-root-invalid", f"the root is not signed by its own threshold: {exc}") from None
    dirs.metadata_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*dirs.metadata_dir.glob("*.json"), *dirs.metadata_dir.glob("root_history/*.json")]:
        stale.unlink()  # a new anchor: nothing trusted under the old one stays
    history = dirs.metadata_dir / "root_history"
    history.mkdir(exist_ok=True)
    (history / f"{root.signed.version}.root.json").write_bytes(root_data)
    (dirs.metadata_dir / "root.json").write_bytes(root_data)
    if dirs.metadata_url is not None:
        cfg = {"metadata_url": dirs.metadata_url, "target_base_url": dirs.target_base_url}
        _config_path(dirs.metadata_dir).write_text(json.dumps(cfg, indent=2) + "\n")
    return root.signed


def _updater(dirs: ClientDirs, seen: _Seen, *, offline: bool) -> Updater:
    if not (dirs.metadata_dir / "root.json").is_file():
        raise InputError(
            "tuf-client-uninitialised",
            f"no trusted root in {dirs.metadata_dir}",
            hint="run `assay tuf client init ROOT.json --metadata-url URL` with a root obtained out of band",
        )
    if not offline and dirs.metadata_url is None:
        raise InputError("tuf-client-unconfigured", "no repository URL: give --metadata-url")
    cls = _OfflineUpdater if offline else Updater
    dirs.targets.mkdir(parents=True, exist_ok=True)
    with _classified(seen):
        seen.updater = cls(
            str(dirs.metadata_dir),
            dirs.metadata_url or "offline:",
            str(dirs.targets),
            dirs.target_base_url,
            fetcher=_RecordingFetcher(seen),
            config=UpdaterConfig(app_user_agent="assay-tuf-client"),
            bootstrap=None,
        )
    return seen.updater


def refresh(dirs: ClientDirs, *, offline: bool = False) -> list[RoleState]:
    """Update the top-level metadata (offline: verify the cached copy); the trusted roles after it."""
    seen = _Seen()
    updater = _updater(dirs, seen, offline=offline)
    with _classified(seen):
        updater.refresh()
    return trusted_roles(dirs)


def download(dirs: ClientDirs, names: list[str], *, offline: bool = False) -> list[Fetched]:
    """Fetch and verify each target path in order with one updater; a verified cached copy is not fetched again."""
    seen = _Seen()
    updater = _updater(dirs, seen, offline=offline)
    if not offline and dirs.target_base_url is None:
        raise InputError("tuf-client-unconfigured", "no target base URL: give --target-base-url")
    done: list[Fetched] = []
    for name in names:
        with _classified(seen):
            info = updater.get_targetinfo(name)
            if info is None:
                _explain_unknown(updater, name)
            cached = updater.find_cached_target(info)
            if cached is None and offline:
                raise VerificationError("tuf-offline-missing", f"target {name!r} is not cached (offline)")
            path = cached or updater.download_target(info)
        done.append(Fetched(name, Path(path), cached is not None, info.length, info.hashes.get("sha256")))
    return done


def trusted_roles(dirs: ClientDirs) -> list[RoleState]:
    """The roles cached in ``dirs`` with their versions and expiry (read only; nothing verified)."""
    states = []
    for path in sorted(dirs.metadata_dir.glob("*.json")):
        try:
            md = Metadata.from_file(str(path))
        except Exception:
            continue
        expires = getattr(md.signed, "expires", None)
        states.append(RoleState(parse.unquote(path.stem), md.signed.version, expires.isoformat() if expires else ""))
    return states


class _RecordingFetcher(Urllib3Fetcher):
    """ngclient's urllib3 fetcher that remembers the last metadata it was given, to explain a refusal."""

    def __init__(self, seen: _Seen) -> None:
        super().__init__(app_user_agent="assay-tuf-client")
        self._seen = seen

    def download_bytes(self, url: str, max_length: int) -> bytes:
        self._seen.url, self._seen.data, self._seen.target = url, b"", False
        self._seen.urls.append(url)
        with super().download_file(url, max_length) as f:
            data: bytes = f.read()
        self._seen.data = data
        return data

    @contextmanager
    def download_file(self, url: str, max_length: int) -> Iterator[IO[bytes]]:
        self._seen.url, self._seen.data, self._seen.target = url, b"", True
        self._seen.urls.append(url)
        with super().download_file(url, max_length) as f:
            yield f


class _OfflineMiss(exceptions.DownloadError):
    """Offline: a role the client needs is not cached."""


class _OfflineUpdater(Updater):
    """An ``Updater`` that never fetches: the cached metadata goes through the same trusted-metadata checks."""

    def refresh(self) -> None:
        ts = self._trusted_set
        history = Path(self._dir, "root_history")
        while (nxt := history / f"{ts.root.version + 1}.root.json").is_file():
            ts.update_root(nxt.read_bytes())
        ts.update_timestamp(self._local(Timestamp.type))
        ts.update_snapshot(self._local(Snapshot.type), trusted=True)
        ts.update_targets(self._local(Targets.type))

    def _local(self, role: str) -> bytes:
        try:
            return self._load_local_metadata(role)
        except OSError:
            raise _OfflineMiss(f"{role} metadata is not cached") from None

    def _download_metadata(self, rolename: str, length: int, version: int | None = None) -> bytes:
        raise _OfflineMiss(f"{rolename} metadata is not cached")

    def download_target(
        self, targetinfo: TargetFile, filepath: str | None = None, target_base_url: str | None = None
    ) -> str:
        raise _OfflineMiss(f"target {targetinfo.path!r} is not cached")


def _explain_unknown(updater: Updater, name: str) -> NoReturn:
    """Not found. Says whether a delegated role lists ``name`` although it is not trusted for that path; only
    metadata already verified or cached is consulted (a lookup fetches nothing beyond the TUF walk)."""
    trusted = updater._trusted_set
    for role, parent in _all_delegations(updater):
        md = trusted.get(role)
        if md is None:
            try:
                md = trusted.update_delegated_targets(updater._load_local_metadata(role), role, parent)
            except (OSError, exceptions.RepositoryError, RuntimeError):
                continue
        delegator = trusted.get(parent)
        if not isinstance(md, Targets) or name not in md.targets or not isinstance(delegator, Targets):
            continue
        roles = (delegator.delegations.roles if delegator.delegations else None) or {}
        if role in roles and not roles[role].is_delegated_path(name):
            raise VerificationError(
                "tuf-target-outside-delegation",
                f"role {role!r} lists {name!r} but {parent!r} trusts it only for other paths",
            )
    raise VerificationError("tuf-target-unknown", f"no role trusted for {name!r} lists it")


def _all_delegations(updater: Updater) -> Iterator[tuple[str, str]]:
    """Every (role, delegator) pair below the loaded targets roles, breadth first, at most ``max_delegations``."""
    trusted = updater._trusted_set
    queue, seen = [Targets.type], {Targets.type}
    while queue and len(seen) <= updater.config.max_delegations:
        md = trusted.get(parent := queue.pop(0))
        if not isinstance(md, Targets) or md.delegations is None or md.delegations.roles is None:
            continue
        for role in md.delegations.roles:
            if role not in seen:
                seen.add(role)
                yield role, parent
                queue.append(role)


@contextmanager
def _classified(seen: _Seen) -> Iterator[None]:
    try:
        yield
    except AssayError:
        raise
    except Exception as exc:
        mapped = refusal(exc, seen)
        if mapped is None:
            raise
        raise mapped from exc


# ngclient's BadVersionNumberError messages, told apart (tests/integration/tuf pins each one with a real attack).
_ROLLBACK = re.compile(r"must be >=|Expected \S+\.json version")
_MIX = re.compile(r"Expected snapshot version|Expected \S+ v\d+, got v\d+")
_ROOT_VERSION = re.compile(r"Expected root version")


def refusal(exc: BaseException, seen: _Seen | None = None) -> AssayError | None:
    """The one :class:`AssayError` for an ngclient failure (None when ``exc`` is not a TUF/download error)."""
    seen = seen or _Seen()
    role = _role_of(seen.url)
    text = str(exc) or type(exc).__name__
    if isinstance(exc, _OfflineMiss):
        return VerificationError("tuf-offline-missing", f"{text} (offline)", hint="refresh while online first")
    if isinstance(exc, exceptions.DownloadLengthMismatchError):
        return VerificationError("tuf-endless-data", f"{seen.url or 'a download'}: {text}")
    if isinstance(exc, exceptions.SlowRetrievalError) and _refused(exc):
        return EnvironmentFailure("tuf-unreachable", f"{seen.url or 'the repository'}: cannot connect")
    if isinstance(exc, exceptions.SlowRetrievalError):
        return EnvironmentFailure("tuf-slow-retrieval", f"{seen.url or 'a download'}: too slow ({text})")
    if isinstance(exc, exceptions.DownloadHTTPError):
        return EnvironmentFailure("tuf-download-failed", f"{text}")
    if isinstance(exc, exceptions.DownloadError):
        cause = exc.__cause__ or exc.__context__
        return EnvironmentFailure("tuf-unreachable", f"{text}: {cause}" if cause else text)
    if isinstance(exc, exceptions.ExpiredMetadataError):
        return VerificationError("tuf-metadata-expired", f"{text} (a freeze attack, or a repository not re-signed)")
    if isinstance(exc, exceptions.EqualVersionNumberError):
        return VerificationError("tuf-rollback", text)
    if isinstance(exc, exceptions.BadVersionNumberError):
        if _ROOT_VERSION.search(text):
            return VerificationError("tuf-root-chain-broken", text)
        if _ROLLBACK.search(text):
            return VerificationError("tuf-rollback", text)
        if _MIX.search(text):
            return VerificationError("tuf-mix-and-match", text)
        return VerificationError("tuf-bad-version", text)
    if isinstance(exc, exceptions.UnsignedMetadataError):
        if role == Root.type:
            return VerificationError(
                "tuf-root-chain-broken", f"new root not signed by the old and new thresholds: {text}"
            )
        return _unsigned(text, seen)
    if isinstance(exc, exceptions.LengthOrHashMismatchError):
        if seen.target:
            return VerificationError(
                "tuf-target-mismatch", f"{seen.url}: {text} (the mirror served a different file under this name)"
            )
        return VerificationError(
            "tuf-hash-mismatch", f"{role or 'a file'}: {text} (mix-and-match or a malicious mirror)"
        )
    if isinstance(exc, exceptions.RepositoryError):
        if isinstance(exc.__cause__, DeserializationError) or "Failed to load" in text:
            return VerificationError("tuf-metadata-malformed", f"{role or 'metadata'}: {text}")
        return VerificationError("tuf-repository-invalid", text)
    if isinstance(exc, OSError):
        return EnvironmentFailure("tuf-client-io", f"{exc}")
    return None


def _refused(exc: BaseException) -> bool:
    """urllib3 reports a refused connection as a connect timeout, which ngclient calls slow retrieval."""
    cause = exc.__cause__
    reason = getattr(cause, "reason", None)
    return type(reason).__name__ == "NewConnectionError" or isinstance(reason, ConnectionRefusedError)


def _unsigned(text: str, seen: _Seen) -> AssayError:
    """Threshold not met; ``tuf-untrusted-key`` when no signature is by a key trusted for the role now (revoked)."""
    try:
        md = Metadata.from_bytes(seen.data)
    except Exception:
        return VerificationError("tuf-threshold-not-met", text)
    trusted = _trusted_keyids(seen.updater, md.signed.type if md.signed.type != Targets.type else _role_of(seen.url))
    if trusted is not None and md.signatures and not set(md.signatures) & trusted:
        return VerificationError(
            "tuf-untrusted-key", f"{text}: signed only by keys not trusted for the role (revoked or unknown)"
        )
    return VerificationError("tuf-threshold-not-met", text)


def _trusted_keyids(updater: Updater | None, role: str) -> set[str] | None:
    if updater is None or not role:
        return None
    trusted = updater._trusted_set
    if role in TOP_LEVEL:
        return set(trusted.root.roles[role].keyids)
    for md in list(trusted):  # TrustedMetadataSet iterates over its Signed values
        if (
            isinstance(md, Targets)
            and md.delegations is not None
            and md.delegations.roles
            and role in md.delegations.roles
        ):
            return set(md.delegations.roles[role].keyids)
    return None


def _role_of(url: str) -> str:
    """The role a metadata URL names (``3.snapshot.json`` -> ``snapshot``)."""
    if not url.endswith(".json"):
        return ""
    name = parse.unquote(url.rsplit("/", 1)[-1][: -len(".json")])
    head, _, rest = name.partition(".")
    return rest if head.isdigit() and rest else name


TRUST_TARGETS = ("trusted_root.json", "signing_config.v0.2.json")


def instance_trust(instance: str, tuf_root: Path | None = None, *, offline: bool = False) -> dict[str, Path]:
    """A Sigstore instance's ``trusted_root.json`` and ``signing_config.v0.2.json``, fetched and verified over TUF.

    ``instance`` is the TUF repository URL (metadata at ``<instance>/``, targets at ``<instance>/targets/``, as
    sigstore-python reads it). Trust starts from the root the client was initialised with (``assay tuf client
    init ROOT --metadata-url INSTANCE``) or from ``tuf_root`` when that directory has none yet — never on first use.
    """
    base = instance.rstrip("/") + "/"
    dirs = load_dirs(None, base, base + "targets/")
    if not (dirs.metadata_dir / "root.json").is_file():
        if tuf_root is None:
            raise InputError(
                "tuf-client-uninitialised",
                f"no trusted TUF root for {instance}",
                hint="give --tuf-root ROOT.json (obtained out of band) or run `assay tuf client init`",
            )
        try:
            init(tuf_root.read_bytes(), dirs)
        except OSError as exc:
            raise InputError("file-unreadable", f"{tuf_root}: {exc.strerror}") from None
    got = download(dirs, list(TRUST_TARGETS), offline=offline)
    return {f.name: f.path for f in got}


def instance_server(instance: str, tuf_root: Path | None = None) -> str:
    """The assay server a TUF-distributed ``signing_config.v0.2.json`` names for signing (CA and log on one URL)."""
    path = instance_trust(instance, tuf_root)["signing_config.v0.2.json"]
    try:
        config = json.loads(path.read_bytes())
        ca = config["caUrls"][0]["url"]
        logs = [u["url"] for u in config.get("rekorTlogUrls", [])]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise VerificationError("signing-config-invalid", f"the instance's signing config is unusable: {exc}") from None
    if logs and logs[0].rstrip("/") != ca.rstrip("/"):
        raise InputError(
            "instance-services-split",
            f"the instance's CA ({ca}) and log ({logs[0]}) are on different servers",
            hint="sign with sigstore-python --instance, or give --server",
        )
    return str(ca).rstrip("/")
