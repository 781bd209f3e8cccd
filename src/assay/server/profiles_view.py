"""The dashboard's profile pages read the profiles package through this adapter (``web.profiles.ProfilesView``).

Owns only the translation from :mod:`assay.profiles.query` (plain JSON per page) to the view rows the
templates take. May import ``assay.profiles`` and ``assay.web``; the server installs it as
``app.state.profiles_view``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine

from assay.profiles import history, query, records
from assay.web.profiles import EntityRow, HistoryRow, ProfileRow, RuleStatus

_PAGE_STATUS = {"pending": "skipped"}  # a profile nothing has been evaluated for yet


def _seconds(ms: int) -> int:
    return int(ms) // 1000


def _rules_of(document: str) -> tuple[str, ...]:
    try:
        import yaml

        doc = yaml.safe_load(document) or {}
        rules = (doc.get("spec") or {}).get("rules") or []
        return tuple(str(r.get("name", "")) for r in rules if isinstance(r, dict))
    except Exception:  # a stored document the page cannot read: no rule names, the rest still shows
        return ()


def _rule_status(row: dict[str, Any]) -> RuleStatus:
    name = row["rule"] if not row.get("target") else f"{row['rule']} ({row['target']})"
    return RuleStatus(name, row["status"], row.get("reason") or "", _seconds(row["evaluated"]))


def _entity_row(entity: dict[str, Any], rows: list[dict[str, Any]], digests: list[str] | None = None) -> EntityRow:
    seen = digests if digests is not None else list(dict.fromkeys(r["digest"] for r in rows if r.get("digest")))
    return EntityRow(
        str(entity["id"]),
        str(entity["kind"]),
        str(entity["name"]),
        tuple(seen),
        tuple(_rule_status(r) for r in rows),
    )


def _entity_id(entity: str) -> int | None:
    """An entity id as the pages pass it (ASCII digits, at most 15), else None."""
    return int(entity) if entity.isascii() and entity.isdigit() and len(entity) <= 15 else None


class ProfilesQueries:
    """:class:`assay.web.profiles.ProfilesView` over one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def profiles(self, project: str) -> list[ProfileRow]:
        """Every profile with its rolled-up status and counts."""
        out = []
        documents = {p.name: p.document for p in records.profile_rows(self.engine, project)}
        for p in query.profile_summaries(self.engine, project):
            out.append(
                ProfileRow(
                    p["name"],
                    int(p["version"]),
                    str(p["alert"]),
                    f"{int(p['interval'])}s",
                    _rules_of(documents.get(p["name"], "")),
                    _PAGE_STATUS.get(p["status"], p["status"]),
                    dict(p.get("counts") or {}),
                )
            )
        return out

    def entities(self, project: str, after: int = 0, limit: int | None = None) -> list[EntityRow]:
        """Entities (all, or a page after the id ``after``) with each rule's latest status."""
        if limit is None:
            found = records.list_entities(self.engine, project)
            rows = history.latest(self.engine, project)
        else:
            found, _total, _next = records.entity_page(self.engine, project, after, limit)
            rows = history.latest_of_entities(self.engine, project, [e.id for e in found])
        per: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            per.setdefault(int(r["entityId"]), []).append(r)
        return [_entity_row(e.to_json(), per.get(e.id, [])) for e in found]

    def entity(self, project: str, entity: str) -> EntityRow | None:
        """One entity by id (None when absent or not a number)."""
        entity_id = _entity_id(entity)
        if entity_id is None:
            return None
        try:
            page = query.entity_page(self.engine, project, entity_id, limit=1)
        except LookupError:
            return None
        rows = [r for p in page["profiles"] for r in p["rows"]]
        return _entity_row(page, rows, list(page["digests"]))

    def history(self, project: str, entity: str | None = None, limit: int = 100) -> list[HistoryRow]:
        """The newest results, newest first, optionally of one entity (by id)."""
        filters: dict[str, Any] = {"limit": max(1, min(limit, 1000))}
        if entity is not None:
            entity_id = _entity_id(entity)
            if entity_id is None:
                return []
            filters["entity_id"] = entity_id
        items, _ = query.timeline(self.engine, project, **filters)
        return [
            HistoryRow(
                _seconds(r["time"]),
                r["profile"],
                r["rule"],
                str(r.get("entity") or r["entityId"]),
                r.get("digest") or "",
                r["status"],
                r.get("reason") or "",
                r.get("message") or json.dumps(r.get("checks") or "")[:200],
            )
            for r in items
        ]
