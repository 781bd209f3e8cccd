"""The profile, entity and history pages once a ProfilesView answers (the profiles package is not wired yet).

The rows are the protocol's own dataclasses, rendered by the real templates: each status shows as colour
(its class) and as text, and :class:`NoProfiles` gives the empty state.
"""

from __future__ import annotations

import re

from assay.web.profiles import STATUSES, EntityRow, HistoryRow, NoProfiles, ProfileRow, ProfilesView, RuleStatus
from assay.web.render import render

COMMON = {"user": None, "csrf": "c", "version": "v", "crumbs": [], "section": "projects", "project": "acme"}


def _statuses(page: str) -> list[tuple[str, str]]:
    """(class, visible text) of every status badge."""
    found = re.findall(r'<span class="status status-(\w+)"><span aria-hidden="true">.</span> (\w+)</span>', page)
    return [(cls, text) for cls, text in found]


def test_profiles_page_lists_profiles_with_status_as_colour_and_text() -> None:
    rows = [
        ProfileRow(
            "artifact-security", 3, "on", "10m", ("signed", "provenance"), "failure", {"success": 4, "failure": 1}
        ),
        ProfileRow("baseline", 1, "dry_run", "1h", ("signed",), "success", {"success": 2}),
    ]
    page = render("profiles.html", title="Profiles of acme", profiles=rows, **COMMON)
    assert _statuses(page) == [("failure", "failure"), ("success", "success")]
    assert "artifact-security" in page and "dry_run" in page and "4 success" in page


def test_entities_entity_and_history_pages() -> None:
    rules = tuple(RuleStatus(f"rule-{s}", s, f"reason-{s}", 1_700_000_000) for s in STATUSES)
    entity = EntityRow("e1", "image", "registry.test/app", ("sha256:" + "ab" * 32,), rules)
    page = render("entities.html", title="Entities of acme", entities=[entity], **COMMON)
    assert _statuses(page) == [(s, s) for s in STATUSES]
    assert 'href="/ui/projects/acme/entities/e1"' in page
    page = render("entity.html", title="Entity", entity=entity, **COMMON)
    assert "reason-failure" in page and f"/ui/projects/acme/graph?subject=sha256:{'ab' * 32}" in page
    history = [HistoryRow(1_700_000_000 + i, "artifact-security", "signed", "registry.test/app", "sha256:" + "cd" * 32,
                          s, "image-unsigned" if s == "failure" else "") for i, s in enumerate(STATUSES)]  # fmt: skip
    page = render("history.html", title="History", rows=history, entity=None, **COMMON)
    assert _statuses(page) == [(s, s) for s in STATUSES] and "image-unsigned" in page


def test_no_profiles_is_the_empty_state() -> None:
    view: ProfilesView = NoProfiles()
    assert view.profiles("acme") == [] and view.entities("acme") == [] and view.history("acme", None, 10) == []
    assert view.entity("acme", "e1") is None
    assert "No profiles yet" in render("profiles.html", title="P", profiles=view.profiles("acme"), **COMMON)
    assert "No history yet" in render("history.html", title="H", rows=[], entity="e1", **COMMON)
