"""Registry credentials from the Docker CLI configuration (``$DOCKER_CONFIG/config.json``).

Looks up ``credHelpers[host]`` and ``credsStore`` (running ``docker-credential-NAME get``)
and then ``auths[host]`` (``auth`` = base64 ``user:password``, or ``username``/``password``).
Docker Hub is stored under ``https://index.docker.io/v1/``.
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any

from assay.errors import InputError
from assay.formats import safejson
from assay.formats.encoding import optional_object

HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


def config_path() -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    base = os.environ.get("DOCKER_CONFIG")
    return (Path(base) if base else Path.home() / ".docker") / "config.json"


def _keys(host: str) -> list[str]:
    if host == "docker.io":
        return list(HUB_KEYS)
    return [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]


def _helper(name: str, host: str) -> tuple[str, str] | None:
    try:
        out = subprocess.run(
            [f"docker-credential-{name}", "get"], input=host.encode(), capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    try:
        doc = safejson.loads(out.stdout, what="credential helper output")
        return str(doc["Username"]), str(doc["Secret"])
    except (InputError, ValueError, KeyError, TypeError):
        return None


def _from_auth_entry(entry: Any, where: str) -> tuple[str, str] | None:
    if not isinstance(entry, dict):
        return None
    if entry.get("auth"):
        try:
            user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise InputError(
                "docker-config-malformed", f"{where}: an 'auth' value is not base64 user:password"
            ) from None
        if not sep:
            raise InputError("docker-config-malformed", f"{where}: an 'auth' value has no ':'")
        return user, password
    if entry.get("username"):
        return str(entry["username"]), str(entry.get("password") or "")
    return None


def docker_credentials(host: str, path: Path | None = None) -> tuple[str, str] | None:
    """(username, password) for a registry host, or None when the config has none."""
    path = path or config_path()
    try:
        doc = safejson.loads(path.read_bytes(), what=str(path))
    except FileNotFoundError:
        return None
    except (OSError, InputError):
        raise InputError("docker-config-malformed", f"{path} is not a readable JSON file") from None
    if not isinstance(doc, dict):
        raise InputError("docker-config-malformed", f"{path} is not a JSON object")
    keys = _keys(host)
    helpers = optional_object(doc.get("credHelpers"), f"{path}: credHelpers", reason="docker-config-malformed")
    for k in keys:
        if k in helpers:
            return _helper(str(helpers[k]), k)
    auths = optional_object(doc.get("auths"), f"{path}: auths", reason="docker-config-malformed")
    for k in keys:
        found = _from_auth_entry(auths.get(k), str(path))
        if found is not None:
            return found
    if doc.get("credsStore"):
        return _helper(str(doc["credsStore"]), keys[0])
    return None
