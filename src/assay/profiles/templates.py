"""Ready-made profiles: ``artifact-security`` is ``policy init artifact-security``'s rule set (Minder's
artifact_signature: signed, by the workflow of the repository on the branch, on the runner, from the issuer)
wrapped as a profile."""

from __future__ import annotations

import yaml

from assay.policy import templates

GITHUB_ISSUER = templates.GITHUB_ISSUER


def artifact_security(
    repository: str,
    branch: str,
    workflow: str,
    issuer: str = GITHUB_ISSUER,
    runner_environment: str = "github-hosted",
    interval: str = "5m",
    alert: str = "on",
    name: str = "artifact-security",
) -> str:
    """The profile document (YAML): GitHub's issuer trusts the public-good root, any other issuer this server's."""
    policy = yaml.safe_load(
        templates.artifact_security(repository, branch, workflow, [], [], None, issuer, runner_environment)
    )
    doc = {
        "apiVersion": "assay.dev/v1",
        "kind": "Profile",
        "metadata": {"name": name},
        "spec": {
            "description": policy["metadata"]["description"],
            "selectors": ["entity.type == 'image'"],
            "alert": alert,
            "interval": interval,
            "trust": {"publicGood": True} if issuer == GITHUB_ISSUER else {"thisServer": True},
            "rules": policy["spec"]["require"],
        },
    }
    return str(yaml.safe_dump(doc, sort_keys=False))
