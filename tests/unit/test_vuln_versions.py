"""Version ordering per ecosystem and OSV range evaluation (pure)."""

from __future__ import annotations

import pytest

from assay.vuln import osv, versions


def lt(eco: str, a: str, b: str) -> bool:
    return versions.key(eco, a) < versions.key(eco, b)


@pytest.mark.parametrize(
    ("eco", "a", "b"),
    [
        ("PyPI", "1.0rc1", "1.0"),
        ("PyPI", "1.0", "1.0.post1"),
        ("PyPI", "1.0.dev1", "1.0a1"),
        ("PyPI", "1.9", "1!0.1"),  # epochs win
        ("PyPI", "2.32.3", "2.32.4rc1"),
        ("npm", "2.0.0-beta.1", "2.0.0-beta.2"),
        ("npm", "2.0.0-beta.2", "2.0.0-beta.11"),  # numeric identifiers compare as numbers
        ("npm", "2.0.0-alpha", "2.0.0-alpha.1"),
        ("npm", "2.0.0-rc.1", "2.0.0"),
        ("Go", "v0.3.7", "v0.3.8"),
        ("Go", "v0.0.0-20230101000000-abcdef123456", "v0.1.0"),
        ("Debian", "2.36-9~deb12u4", "2.36-9"),  # ~ sorts before anything
        ("Debian", "2.36-9", "2.36-9+deb12u4"),
        ("Debian", "9.9", "1:0.1"),  # epoch
        ("Debian", "1.0~rc1", "1.0"),
        ("Alpine", "1.2.4-r2", "1.2.4-r3"),
        ("Alpine", "1.2.4_rc1", "1.2.4"),
        ("Alpine", "1.2.4", "1.2.4_p1"),
        ("Alpine", "1.2.4", "1.2.4a"),
        ("Alpine", "1.2.9", "1.2.10"),
    ],
)
def test_ordering(eco: str, a: str, b: str):
    assert lt(eco, a, b)
    assert not lt(eco, b, a)


def test_build_metadata_is_ignored_by_semver():
    assert versions.key("npm", "1.0.0+build.1") == versions.key("npm", "1.0.0+build.2")


def test_unparseable_versions_are_reported():
    with pytest.raises(versions.UnorderedVersion):
        versions.key("PyPI", "not a version")
    with pytest.raises(versions.UnorderedVersion):
        versions.key("npm", "1.0")


def _affected(eco: str, events: list[dict], versions_: tuple[str, ...] = (), rtype: str = "ECOSYSTEM"):
    rec = osv.parse(
        {
            "id": "T",
            "affected": [
                {
                    "package": {"ecosystem": eco, "name": "p"},
                    "ranges": [{"type": rtype, "events": events}],
                    "versions": list(versions_),
                }
            ],
        }
    )
    return lambda v: osv.affects(rec, rec.affected[0], v)


def test_ranges():
    two = _affected("PyPI", [{"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}, {"fixed": "2.1"}])
    assert [two(v) for v in ("0.9", "1.0", "1.4.9", "1.5", "1.9", "2.0", "2.0.1", "2.1")] == [
        False, True, True, False, False, True, True, False,
    ]  # fmt: skip
    last = _affected("npm", [{"introduced": "0"}, {"last_affected": "1.2.3"}], rtype="SEMVER")
    assert last("1.2.3") and not last("1.2.4") and last("0.0.1")
    limited = _affected("Go", [{"introduced": "0"}, {"limit": "2.0.0"}], rtype="SEMVER")
    assert limited("1.9.9") and not limited("2.0.0")
    exact = _affected("PyPI", [], ("1.2.3",))
    assert exact("1.2.3") and not exact("1.2.4")


def test_withdrawn_never_matches():
    rec = osv.parse(
        {
            "id": "W",
            "withdrawn": "2026-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "p"}, "versions": ["1"]}],
        }
    )
    assert not osv.affects(rec, rec.affected[0], "1")


def test_severity():
    from tests.osv_fixture import V3_CRITICAL, V4_CRITICAL

    r3 = osv.parse({"id": "a", "severity": [{"type": "CVSS_V3", "score": V3_CRITICAL}]})
    assert (r3.score, r3.rating) == (9.8, "critical")
    r4 = osv.parse({"id": "b", "severity": [{"type": "CVSS_V4", "score": V4_CRITICAL}]})
    assert (r4.score, r4.rating) == (9.3, "critical")
    ds = osv.parse({"id": "c", "database_specific": {"severity": "MODERATE"}})
    assert (ds.score, ds.rating) == (None, "medium")
    bad = osv.parse({"id": "d", "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/garbage"}]})
    assert bad.rating == "unknown"
