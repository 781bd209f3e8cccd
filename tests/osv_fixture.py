"""Small OSV records written for the tests (ids are fictional: TEST-...)."""

from __future__ import annotations

import json
from pathlib import Path

V3_CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
V3_MEDIUM = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N"  # 5.4
V4_CRITICAL = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"  # 9.3


def _rec(id_: str, eco: str, name: str, ranges: list, **extra: object) -> dict:
    return {
        "schema_version": "1.6.0",
        "id": id_,
        "modified": "2026-01-01T00:00:00Z",
        "summary": f"{id_} in {name}",
        "affected": [
            {"package": {"ecosystem": eco, "name": name}, "ranges": ranges, **extra.pop("affected_extra", {})}
        ],  # type: ignore[dict-item]
        **extra,
    }


def eco(*events: dict) -> list:
    return [{"type": "ECOSYSTEM", "events": list(events)}]


def records() -> list[dict]:
    return [
        # PyPI: PEP 440 with a pre-release boundary
        _rec(
            "TEST-PY-1",
            "PyPI",
            "requests",
            eco({"introduced": "2.0.0"}, {"fixed": "2.32.4rc1"}),
            severity=[{"type": "CVSS_V3", "score": V3_CRITICAL}],
        ),
        _rec(
            "TEST-PY-2",
            "PyPI",
            "Flask",
            eco({"introduced": "0"}, {"fixed": "3.0.3"}),
            severity=[{"type": "CVSS_V3", "score": V3_MEDIUM}],
        ),  # 3.0.3 is fixed: no match
        _rec(
            "TEST-PY-3",
            "PyPI",
            "urllib3",
            eco({"introduced": "0"}, {"last_affected": "2.2.2"}),
            database_specific={"severity": "MODERATE"},
        ),
        _rec("TEST-PY-WD", "PyPI", "urllib3", eco({"introduced": "0"}), withdrawn="2026-02-01T00:00:00Z"),
        # npm: SemVer, scoped name, pre-release ordering
        _rec(
            "TEST-NPM-1",
            "npm",
            "@scope/util",
            [{"type": "SEMVER", "events": [{"introduced": "2.0.0-beta.1"}, {"fixed": "2.0.1"}]}],
            severity=[{"type": "CVSS_V4", "score": V4_CRITICAL}],
        ),
        _rec(
            "TEST-NPM-2",
            "npm",
            "left-pad",
            [],
            affected_extra={"versions": ["1.3.0"]},
            database_specific={"severity": "LOW"},
        ),
        # Debian: epochs and ~, matched by source name within the release
        _rec(
            "TEST-DEB-1",
            "Debian:12",
            "gcc-12",
            eco({"introduced": "0"}, {"fixed": "12.2.0-14+deb12u1"}),
            severity=[{"type": "CVSS_V3", "score": V3_MEDIUM}],
        ),
        _rec(
            "TEST-DEB-2", "Debian:12", "libc6", eco({"introduced": "0"}, {"fixed": "2.36-9~deb12u4"})
        ),  # ~ sorts lower
        _rec("TEST-DEB-3", "Debian:11", "libc6", eco({"introduced": "0"}, {"fixed": "3.0"})),  # other release
        _rec("TEST-DEB-4", "Debian:12", "tzdata", eco({"introduced": "0"}, {"fixed": "1:2020a"})),  # epoch 1 > none
        # Alpine: apk ordering (-r revisions)
        _rec("TEST-APK-1", "Alpine:v3.19", "musl", eco({"introduced": "0"}, {"fixed": "1.2.4-r3"})),
        # Go
        _rec(
            "TEST-GO-1",
            "Go",
            "golang.org/x/text",
            [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.3.8"}]}],
        ),
        _rec(
            "TEST-GO-2",
            "Go",
            "stdlib",
            [{"type": "SEMVER", "events": [{"introduced": "1.22.0"}, {"fixed": "1.22.5"}]}],
            severity=[{"type": "CVSS_V3", "score": V3_CRITICAL}],
        ),
    ]


def write(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for r in records():
        (directory / f"{r['id']}.json").write_text(json.dumps(r))
