"""Ready-made policies: ``artifact-security`` mirrors Minder's artifact_signature rule (is signed and
verified; repository, branch, signer workflow, runner environment and certificate issuer)."""

from __future__ import annotations

import re

import yaml

from assay.errors import InputError

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


def artifact_security(
    repository: str,
    branch: str,
    workflow: str,
    images: list[str],
    tags: list[str],
    tag_regexp: str | None,
    issuer: str = GITHUB_ISSUER,
    runner_environment: str = "github-hosted",
) -> str:
    m = re.fullmatch(r"(?:https://)?github\.com/([^/]+/[^/]+?)/?", repository)
    if not m:
        raise InputError("usage", f"--repository {repository!r}: expected https://github.com/OWNER/REPO")
    repo = "https://github.com/" + m.group(1)
    workflow = workflow.lstrip("/")
    ref = f"refs/heads/{branch}"
    match: dict[str, object] = {"images": images or ["**"]}
    if tags:
        match["tags"] = tags
    if tag_regexp:
        match["tagRegExp"] = tag_regexp
    doc = {
        "apiVersion": "assay.dev/v1",
        "kind": "Policy",
        "metadata": {
            "name": "artifact-security",
            "description": f"Images of {repo} must be signed by {workflow} on {branch}, on a {runner_environment} runner",
        },
        "spec": {
            "mode": "enforce",
            "match": match,
            "trust": {"publicGood": True},
            "require": [
                {
                    "name": "signed-by-release-workflow",
                    "signature": {
                        "authorities": {
                            "keyless": [
                                {
                                    "issuer": issuer,
                                    "subject": f"{repo}/{workflow}@{ref}",
                                    "claims": {
                                        "sourceRepository": repo,
                                        "sourceRef": ref,
                                        "buildSigner": f"{repo}/{workflow}@{ref}",
                                        "runnerEnvironment": runner_environment,
                                        "certIssuer": issuer,
                                    },
                                }
                            ]
                        }
                    },
                }
            ],
        },
    }
    return str(yaml.safe_dump(doc, sort_keys=False))
