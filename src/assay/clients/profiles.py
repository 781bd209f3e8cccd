"""HTTP client for an assay server's profiles API: entities, profiles, status, history, sinks, alerts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from assay.clients.access import bearer_for, server_url
from assay.clients.http import reject, request


@dataclass(frozen=True)
class ProfilesClient:
    """Talks to ``{url}/api/v1/projects/{project}/...`` with a bearer token."""

    url: str
    project: str
    token: str | None = None

    @classmethod
    def create(cls, server: str | None, project: str, token: str | None = None) -> ProfilesClient:
        """``--server`` / ASSAY_SERVER / last login; ``--token`` / ASSAY_TOKEN / the stored session."""
        url = server_url(server)
        return cls(url, project, bearer_for(url, token))

    def call(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        """One request; a 4xx answer raises with the server's reason code."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = f"{self.url}/api/v1/projects/{quote(self.project, safe='')}{path}"
        resp = request(method, url, headers=headers, retries=1, **kwargs)
        if not 200 <= resp.status_code < 300:
            raise reject(resp, what)
        return resp.json()

    def add_entity(self, doc: dict[str, Any]) -> Any:
        return self.call("POST", "/entities", "entity", json=doc)

    def entities(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/entities", "entities")["entities"])

    def delete_entity(self, entity_id: int) -> Any:
        return self.call("DELETE", f"/entities/{entity_id}", "entity")

    def apply(self, document: bytes) -> Any:
        return self.call("POST", "/profiles", "profile", content=document)

    def profiles(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/profiles", "profiles")["profiles"])

    def profile(self, name: str) -> Any:
        return self.call("GET", f"/profiles/{quote(name, safe='')}", "profile")

    def delete_profile(self, name: str) -> Any:
        return self.call("DELETE", f"/profiles/{quote(name, safe='')}", "profile")

    def status(self, name: str, detailed: bool) -> Any:
        params = {"detailed": "true"} if detailed else {}
        return self.call("GET", f"/profiles/{quote(name, safe='')}/status", "profile status", params=params)

    def history(self, **params: Any) -> list[dict[str, Any]]:
        """Every matching history row (newest first), following the cursor up to ``limit`` rows."""
        limit = int(params.pop("limit", 100))
        query = {k: v for k, v in params.items() if v is not None}
        out: list[dict[str, Any]] = []
        while len(out) < limit:
            query["limit"] = str(min(1000, limit - len(out)))
            doc = self.call("GET", "/history", "history", params=query)
            out.extend(doc["items"])
            if not doc.get("next"):
                break
            query["before"] = str(doc["next"])
        return out

    def add_sink(self, doc: dict[str, Any]) -> Any:
        return self.call("POST", "/sinks", "sink", json=doc)

    def sinks(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/sinks", "sinks")["sinks"])

    def delete_sink(self, name: str) -> Any:
        return self.call("DELETE", f"/sinks/{quote(name, safe='')}", "sink")

    def alerts(self, state: str | None) -> list[dict[str, Any]]:
        params = {"state": state} if state else {}
        return list(self.call("GET", "/alerts", "alerts", params=params)["alerts"])
