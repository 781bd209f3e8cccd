"""What the profile, entity and history pages read: the :class:`ProfilesView` protocol.

The profiles package (issue 24 items 1-4) implements it; until a server sets one, :class:`NoProfiles` answers
every question with nothing and the pages show their empty state. Every method is called only after the
server authorised ``profile.read`` on ``project``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

STATUSES = ("success", "failure", "error", "skipped")


@dataclass(frozen=True)
class RuleStatus:
    """A rule's latest outcome on one entity."""

    rule: str
    status: str  # one of STATUSES
    reason: str = ""
    evaluated: int = 0  # unix seconds


@dataclass(frozen=True)
class ProfileRow:
    """One profile of a project."""

    name: str
    version: int
    alert: str  # on | off | dry_run
    interval: str
    rules: tuple[str, ...] = ()
    status: str = "skipped"  # the worst status over its rules and entities
    counts: dict[str, int] = field(default_factory=dict)  # status -> how many (rule x entity) pairs


@dataclass(frozen=True)
class EntityRow:
    """One watched entity and its rules' latest statuses."""

    id: str
    kind: str  # image | blob | evidence-subject
    name: str
    digests: tuple[str, ...] = ()
    rules: tuple[RuleStatus, ...] = ()


@dataclass(frozen=True)
class HistoryRow:
    """One stored evaluation result."""

    time: int
    profile: str
    rule: str
    entity: str
    digest: str
    status: str
    reason: str = ""
    detail: str = ""


class ProfilesView(Protocol):
    """Reads for the dashboard's profile pages (implemented by the profiles package)."""

    def profiles(self, project: str) -> list[ProfileRow]:
        """The project's profiles with their rolled-up status."""
        ...

    def entities(self, project: str, after: int = 0, limit: int | None = None) -> list[EntityRow]:
        """The project's entities (all, or ``limit`` of them after the id ``after``) with each rule's latest status."""
        ...

    def entity(self, project: str, entity: str) -> EntityRow | None:
        """One entity (None when the project has no such entity)."""
        ...

    def history(self, project: str, entity: str | None = None, limit: int = 100) -> list[HistoryRow]:
        """The newest ``limit`` results, newest first, optionally of one entity."""
        ...


class NoProfiles:
    """The view before profiles exist: no profiles, no entities, no history."""

    def profiles(self, project: str) -> list[ProfileRow]:
        """Nothing yet."""
        return []

    def entities(self, project: str, after: int = 0, limit: int | None = None) -> list[EntityRow]:
        """Nothing yet."""
        return []

    def entity(self, project: str, entity: str) -> EntityRow | None:
        """Nothing yet."""
        return None

    def history(self, project: str, entity: str | None = None, limit: int = 100) -> list[HistoryRow]:
        """Nothing yet."""
        return []
