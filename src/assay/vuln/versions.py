"""Version ordering per ecosystem: PEP 440 (PyPI), SemVer (npm, Go, crates.io), Debian (dpkg), Alpine (apk)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cmp_to_key, lru_cache
from typing import Any

from debian.debian_support import Version as DebianVersion
from packaging.version import InvalidVersion, Version


class UnorderedVersion(ValueError):
    """A version the ecosystem's rules cannot parse."""


def _pep440(v: str) -> Any:
    try:
        return Version(v)
    except InvalidVersion:
        raise UnorderedVersion(v) from None


_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?(?:\+[0-9A-Za-z.-]+)?$"
)


def _semver(v: str) -> Any:
    """SemVer 2.0 precedence: build metadata ignored; pre-releases sort before the release."""
    m = _SEMVER.match(v.strip())
    if not m:
        raise UnorderedVersion(v)
    major, minor, patch, pre = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
    if pre is None:
        return (major, minor, patch, 1, ())
    ids = tuple((0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (major, minor, patch, 0, ids)


def _debian(v: str) -> Any:
    try:
        return DebianVersion(v)
    except ValueError:
        raise UnorderedVersion(v) from None


_APK = re.compile(r"^(\d+(?:\.\d+)*)([a-z]?)((?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)\d*)*)(?:-r(\d+))?$")
_SUFFIX_RANK = {"alpha": 0, "beta": 1, "pre": 2, "rc": 3, "": 4, "cvs": 5, "svn": 6, "git": 7, "hg": 8, "p": 9}


def _apk(v: str) -> Any:
    """apk-tools ordering: numeric components, a letter, suffixes (_alpha < _beta < _pre < _rc < none < _p), -rN."""
    m = _APK.match(v.strip())
    if not m:
        raise UnorderedVersion(v)
    numbers = tuple(int(x) for x in m.group(1).split("."))
    suffixes = tuple(
        (_SUFFIX_RANK[s.rstrip("0123456789")], int(s[len(s.rstrip("0123456789")) :] or 0))
        for s in m.group(3).split("_")
        if s
    )
    return (numbers, m.group(2), (*suffixes, (_SUFFIX_RANK[""], 0)), int(m.group(4) or 0))


def _apk_cmp(a: Any, b: Any) -> int:
    (na, la, sa, ra), (nb, lb, sb, rb) = a, b
    for x, y in zip(na, nb, strict=False):
        if x != y:
            return -1 if x < y else 1
    if len(na) != len(nb):
        return -1 if len(na) < len(nb) else 1
    if la != lb:
        return -1 if la < lb else 1
    if sa != sb:
        return -1 if sa < sb else 1
    return int(ra > rb) - int(ra < rb)


_APK_KEY = cmp_to_key(_apk_cmp)


def _generic(v: str) -> Any:
    return tuple((0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p) for p in re.split(r"[.\-+_~]", v))


ORDERINGS: dict[str, Callable[[str], Any]] = {
    "PyPI": _pep440,
    "npm": _semver,
    "Go": _semver,
    "crates.io": _semver,
    "Debian": _debian,
    "Ubuntu": _debian,
    "Alpine": lambda v: _APK_KEY(_apk(v)),
}


@lru_cache(maxsize=200_000)
def key(ecosystem: str, version: str) -> Any:
    """A sort key for ``version`` under ``ecosystem``'s rules (the part before ``:`` names it)."""
    base = ecosystem.split(":", 1)[0]
    return ORDERINGS.get(base, _generic)(version)
