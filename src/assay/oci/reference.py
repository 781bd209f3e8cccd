"""Image references per the distribution reference grammar, with Docker Hub defaults.

``[registry[:port]/]path[:tag][@algorithm:hex]``. A first component is a
registry when it contains ``.`` or ``:`` or is ``localhost``; otherwise the
reference names Docker Hub (``docker.io``, with ``library/`` for one-component
paths). Path components are lowercase alphanumerics joined by ``.``, ``_``,
``__`` or dashes; tags are ``[\\w][\\w.-]{0,127}``; digests are
``algorithm:hex`` with a length the algorithm fixes.

Every reference is normalised once, here, to the one spelling policies are
written for and caches and back-off are keyed by (:func:`parse`; patterns
through :func:`canonical_pattern`): the host lowercased (DNS names are
case-insensitive); the port as a canonical integer (``05000`` → ``5000``;
``0`` and past 65535 refused); ``:443`` dropped, because a portless name is
reached over HTTPS on 443 and the two spellings name the same endpoint (other
ports, ``:80`` included, are kept: they are other endpoints); IPv4 addresses
in dotted-decimal only (a leading zero, which resolvers may read as octal, is
refused) and IPv6 addresses compressed; ``index.docker.io``,
``registry-1.docker.io`` and ``registry.hub.docker.com`` become ``docker.io``,
whose one-component names gain ``library/`` (``docker.io/nginx`` →
``docker.io/library/nginx``). Names that resolve alike without being spelled
alike (``localhost`` and ``127.0.0.1``, a host and its address) are not
merged: no name lookup happens here.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from assay.errors import InputError

DOCKER_HUB = "docker.io"
HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")
HTTPS_PORT = 443
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_HOST = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?"
)
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
MAX_NAME = 255


@dataclass(frozen=True)
class Reference:
    """A parsed image reference."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository``."""
        return f"{self.registry}/{self.repository}"

    def with_digest(self, digest: str) -> Reference:
        """The same image pinned to ``digest`` (the tag is kept for display only)."""
        return Reference(self.registry, self.repository, self.tag, parse_digest(digest))

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_digest(value: str) -> str:
    """Check ``algorithm:hex`` (sha256/384/512, lowercase hex of the right length)."""
    alg, sep, hexpart = value.partition(":")
    if (
        not sep
        or alg not in _DIGEST_LENGTHS
        or len(hexpart) != _DIGEST_LENGTHS[alg]
        or not re.fullmatch(r"[0-9a-f]+", hexpart)
    ):
        raise InputError("bad-image-reference", f"{value!r} is not a valid digest (algorithm:lowercase-hex)")
    return value


def canonical_host(host: str) -> str:
    """The one spelling of a registry host (see the module doc); InputError ``bad-image-reference`` for a host
    that has none (bad port, address with leading zeros, IPv6 zone)."""
    bad = InputError("bad-image-reference", f"{host!r} is not a valid registry host")
    if not _HOST.fullmatch(host):
        raise bad
    if host.startswith("["):
        addr, _, port = host[1:].partition("]")
        port = port.removeprefix(":")
        try:
            name = f"[{ipaddress.IPv6Address(addr).compressed}]"
        except ValueError:
            raise bad from None
    else:
        name, _, port = host.partition(":")
        name = name.lower()
        if re.fullmatch(r"[0-9.]+", name):
            try:
                name = str(ipaddress.IPv4Address(name))
            except ValueError:
                raise bad from None
    if port:
        if len(port.lstrip("0")) > 5:
            raise bad
        number = int(port)
        if not 0 < number <= 65535:
            raise bad
        if number != HTTPS_PORT:
            name += f":{number}"
    return DOCKER_HUB if name in HUB_ALIASES else name


def canonical_pattern(pattern: str) -> str:
    """An image glob (``registry/path/**``) with its host normalised as :func:`parse` normalises references, so
    a policy written ``LOCALHOST:05000/team/**`` or ``docker.io/nginx`` means what the references it is
    compared with mean. A pattern whose first component has wildcards or is not a host is returned as is."""
    first, sep, rest = pattern.partition("/")
    if not sep or any(c in first for c in "*?[") or not ("." in first or ":" in first or first == "localhost"):
        return pattern
    try:
        host = canonical_host(first)
    except InputError:
        return pattern
    if host == DOCKER_HUB and "/" not in rest and "**" not in rest:
        rest = f"library/{rest}"
    return f"{host}/{rest}"


def parse(value: str) -> Reference:
    """Parse an image reference, applying Docker Hub defaults."""
    bad = InputError("bad-image-reference", f"{value!r} is not a valid image reference")
    if not value or value != value.strip():
        raise bad
    rest, _, digest = value.partition("@")
    digest_value = parse_digest(digest) if digest else None
    if "@" in value and not digest:
        raise bad
    tag = None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise bad
    parts = rest.split("/")
    if len(parts) > 1 and (("." in parts[0] or ":" in parts[0]) or parts[0] == "localhost"):
        if len(parts[0]) > MAX_NAME:
            raise bad
        try:
            registry = canonical_host(parts[0])
        except InputError:
            raise bad from None
        path = parts[1:]
    else:
        registry, path = DOCKER_HUB, parts
    if registry == DOCKER_HUB and len(path) == 1:
        path = ["library", *path]
    if not path or not all(_COMPONENT.fullmatch(p) for p in path):
        raise bad
    repository = "/".join(path)
    if len(registry) + 1 + len(repository) > MAX_NAME:
        raise bad
    return Reference(registry, repository, tag if tag or digest_value else "latest", digest_value)


def canonical(value: str) -> str:
    """``registry/repository[:tag][@digest]`` of a reference, normalised (the form policies are written for)."""
    return str(parse(value))


def is_image_argument(value: str) -> bool:
    """True for ``oci:PATH...`` and for image references that are not an existing path on disk
    (the one rule every command uses to tell an image argument from a file)."""
    from pathlib import Path

    return value.startswith("oci:") or (
        not value.startswith("sha256:") and not Path(value).exists() and ("/" in value or ":" in value)
    )
