"""What a profile and an entity are, as the rest of the package passes them around."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from assay.policy.cel import Condition
from assay.policy.model import Policy

ENTITY_KINDS = ("image", "blob", "evidence-subject")
ALERT_MODES = ("on", "off", "dry_run")
STATUSES = ("success", "failure", "error", "skipped")
RULE_STATUS = {"pass": "success", "fail": "failure", "error": "error"}  # policy RuleResult.status -> history


@dataclass(frozen=True)
class Entity:
    """Something a project watches: an image repository (tags by glob or regexp), an artifact name of the
    project's verified repository, or an evidence subject digest."""

    id: int
    project: str
    kind: str
    name: str
    tags: tuple[str, ...] = ()
    tag_regexp: str | None = None
    insecure: bool = False
    created: int = 0
    created_by: str = ""

    def properties(self) -> dict[str, Any]:
        """What a profile's CEL selectors see as ``entity``."""
        props: dict[str, Any] = {"id": self.id, "type": self.kind, "name": self.name, "project": self.project}
        if self.kind == "image":
            registry, _, repository = self.name.partition("/")
            props.update(registry=registry, repository=repository, tags=list(self.tags))
        return props

    def to_json(self) -> dict[str, Any]:
        """The API's view of an entity."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "name": self.name, "created": self.created}
        if self.kind == "image":
            out.update(tags=list(self.tags), tagRegExp=self.tag_regexp, insecure=self.insecure)
        out["createdBy"] = self.created_by
        return out

    @staticmethod
    def from_row(r: Any) -> Entity:
        return Entity(
            int(r.id),
            r.project,
            r.kind,
            r.name,
            tuple(json.loads(r.tags)),
            r.tag_regexp,
            bool(r.insecure),
            int(r.created),
            r.created_by,
        )


@dataclass
class Profile:
    """A checked profile document: its rules compiled as a policy, its selectors compiled as CEL."""

    name: str
    document: str  # the YAML as applied
    policy: Policy
    selectors: tuple[Condition, ...]
    alert: str
    interval: int  # seconds
    trust: str  # "server" (this server's trusted root) | "public-good"
    version: int = 0
    rules: tuple[str, ...] = field(default_factory=tuple)

    def selects(self, entity: Entity) -> bool:
        """True when every selector holds for ``entity`` (CelError propagates)."""
        props = {"entity": entity.properties()}
        return all(c.evaluate(props) is True for c in self.selectors)
