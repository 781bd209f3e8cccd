"""OSV records: parsing what matching needs, deciding whether a version is affected, and severity.

Affectedness follows the OSV schema's evaluation: for each SEMVER or
ECOSYSTEM range, events are sorted by version ("0" first); ``introduced``
turns on, ``fixed`` (at or above) and ``last_affected`` (above) turn off,
``limit`` caps the range. GIT ranges are ignored; ``versions`` lists exact
affected versions. Withdrawn records never match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from assay.errors import InputError
from assay.formats.encoding import objects, optional_list, optional_object
from assay.vuln import versions

BAD = "osv-malformed"
SEVERITIES = ("none", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class Affected:
    ecosystem: str
    name: str
    ranges: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # (type, ((event, version), ...))
    versions: frozenset[str]


@dataclass
class Record:
    id: str
    aliases: list[str]
    summary: str
    modified: str
    withdrawn: bool
    affected: list[Affected]
    score: float | None  # CVSS base score when a vector is present
    rating: str  # none/low/medium/high/critical, or "unknown"
    vectors: list[str] = field(default_factory=list)


def rating_of(score: float) -> str:
    if score == 0:
        return "none"
    if score < 4:
        return "low"
    if score < 7:
        return "medium"
    if score < 9:
        return "high"
    return "critical"


@lru_cache(maxsize=65536)
def cvss_score(kind: str, vector: str) -> float | None:
    """The base score of a CVSS v3.x or v4.0 vector (None when malformed or another kind)."""
    from cvss import CVSS3, CVSS4

    try:
        if kind == "CVSS_V3":
            return float(CVSS3(vector).scores()[0])
        if kind == "CVSS_V4":
            return float(CVSS4(vector).base_score)
    except Exception:  # the cvss library raises several exception types for malformed vectors
        return None
    return None


def _severity(doc: dict[str, Any], where: str) -> tuple[float | None, str, list[str]]:
    best: float | None = None
    vectors = []
    for s in objects(doc.get("severity"), f"{where}: severity", reason=BAD):
        kind, vector = s.get("type"), s.get("score")
        if not isinstance(vector, str) or not isinstance(kind, str):
            continue
        score = cvss_score(kind, vector)
        if score is None:
            continue
        vectors.append(vector)
        best = score if best is None else max(best, score)
    if best is not None:
        return best, rating_of(best), vectors
    for place in [doc.get("database_specific")] + [
        a.get("database_specific") for a in objects(doc.get("affected"), f"{where}: affected", reason=BAD)
    ]:
        sev = str(optional_object(place, f"{where}: database_specific", reason=BAD).get("severity", "")).lower()
        if sev in ("low", "medium", "moderate", "high", "critical"):
            return None, "medium" if sev == "moderate" else sev, []
    return None, "unknown", []


def parse(doc: Any, where: str = "OSV record") -> Record:
    """The parts of an OSV record matching needs; malformed records are refused with a reason."""
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        raise InputError(BAD, f"{where}: not an OSV record (no id)")
    affected = []
    for a in objects(doc.get("affected"), f"{where}: affected", reason=BAD):
        pkg = optional_object(a.get("package"), f"{where}: affected[].package", reason=BAD)
        eco, name = pkg.get("ecosystem"), pkg.get("name")
        if not isinstance(eco, str) or not isinstance(name, str):
            continue
        ranges = []
        for r in objects(a.get("ranges"), f"{where}: affected[].ranges", reason=BAD):
            if r.get("type") not in ("SEMVER", "ECOSYSTEM"):
                continue
            events = tuple(
                (str(k), str(v))
                for e in objects(r.get("events"), f"{where}: ranges[].events", reason=BAD)
                for k, v in e.items()
            )
            ranges.append((str(r["type"]), events))
        listed = optional_list(a.get("versions"), f"{where}: affected[].versions", reason=BAD)
        affected.append(Affected(eco, name, tuple(ranges), frozenset(str(v) for v in listed)))
    score, rating, vectors = _severity(doc, where)
    summary, details = doc.get("summary"), doc.get("details")
    return Record(
        id=doc["id"],
        aliases=[str(x) for x in optional_list(doc.get("aliases"), f"{where}: aliases", reason=BAD)],
        summary=summary
        if isinstance(summary, str) and summary
        else (details if isinstance(details, str) else "")[:120],
        modified=str(doc.get("modified", "")),
        withdrawn=bool(doc.get("withdrawn")),
        affected=affected,
        score=score,
        rating=rating,
        vectors=vectors,
    )


def _in_range(version: str, ecosystem: str, rtype: str, events: tuple[tuple[str, str], ...]) -> bool:
    order_eco = ecosystem if rtype == "ECOSYSTEM" else "npm"  # SEMVER ranges use SemVer ordering
    v = versions.key(order_eco, version)
    from_zero = False
    keyed: list[tuple[Any, str]] = []
    for kind, value in events:
        if kind == "introduced" and value == "0":
            from_zero = True
        elif kind in ("introduced", "fixed", "last_affected", "limit"):
            try:
                keyed.append((versions.key(order_eco, value), kind))
            except versions.UnorderedVersion:
                continue
    keyed.sort(key=lambda item: item[0])
    affected = from_zero
    limits = []
    for k, kind in keyed:
        if kind == "introduced" and v >= k:
            affected = True
        elif kind == "fixed" and v >= k:
            affected = False
        elif kind == "last_affected" and v > k:
            affected = False
        elif kind == "limit":
            limits.append(k)
    return affected and (not limits or any(v < lim for lim in limits))


def affects(record: Record, affected: Affected, version: str) -> bool:
    """True when ``version`` of the package is affected by this entry of the record."""
    if record.withdrawn:
        return False
    if version in affected.versions:
        return True
    for rtype, events in affected.ranges:
        try:
            if _in_range(version, affected.ecosystem, rtype, events):
                return True
        except versions.UnorderedVersion:
            continue
    return False
