"""Token claims → certificate identity (SAN, proof-of-possession challenge, Fulcio extensions), per issuer type."""

from __future__ import annotations

from typing import Any

from assay.ca.authority import Identity
from assay.ca.oidc import IssuerConfig, TokenError


def _need(claims: dict[str, Any], *names: str) -> None:
    missing = [n for n in names if not claims.get(n)]
    if missing:
        raise TokenError("oidc-missing-claims", f"the token lacks {', '.join(missing)}")


def identity_for(issuer: IssuerConfig, claims: dict[str, Any]) -> Identity:
    """The certificate identity a verified token grants."""
    ext: list[tuple[int, str]] = [(8, issuer.url), (1, issuer.url)]
    kind = issuer.type
    if kind == "email":
        _need(claims, "email")
        if claims.get("email_verified") is not True:
            raise TokenError("oidc-email-not-verified", "the token's email address is not verified")
        return Identity("email", str(claims["email"]), str(claims["email"]), tuple(ext))
    if kind == "uri":
        sub = str(claims["sub"])
        if "://" not in sub:
            raise TokenError("oidc-missing-claims", "a uri issuer's subject must be a URI")
        return Identity("uri", sub, sub, tuple(ext))
    if kind == "github-workflow":
        _need(claims, "job_workflow_ref", "repository", "ref", "sha", "event_name", "workflow_ref")
        gh = "https://github.com/"
        c = {k: str(v) for k, v in claims.items() if isinstance(v, str | int)}
        values = {
            2: c.get("event_name"),
            3: c.get("sha"),
            4: c.get("workflow"),
            5: c.get("repository"),
            6: c.get("ref"),
            9: gh + c["job_workflow_ref"],
            10: c.get("job_workflow_sha"),
            11: c.get("runner_environment"),
            12: gh + c["repository"],
            13: c.get("sha"),
            14: c.get("ref"),
            15: c.get("repository_id"),
            16: gh + c["repository_owner"] if c.get("repository_owner") else None,
            17: c.get("repository_owner_id"),
            18: gh + c["workflow_ref"],
            19: c.get("workflow_sha"),
            20: c.get("event_name"),
            21: f"{gh}{c['repository']}/actions/runs/{c['run_id']}/attempts/{c['run_attempt']}"
            if c.get("run_id") and c.get("run_attempt")
            else None,
            22: c.get("repository_visibility"),
            23: c.get("environment"),
            24: c.get("sub"),
        }
        ext += [(n, v) for n, v in values.items() if v]
        return Identity("uri", gh + c["job_workflow_ref"], str(claims["sub"]), tuple(sorted(ext)))
    # gitlab-pipeline
    _need(claims, "ci_config_ref_uri", "project_path", "ref", "sha")
    c = {k: str(v) for k, v in claims.items() if isinstance(v, str | int)}
    server = "https://" + c["ci_config_ref_uri"].split("/", 1)[0]
    ref_type = c.get("ref_type", "branch")
    git_ref = ("refs/tags/" if ref_type == "tag" else "refs/heads/") + c["ref"]
    values = {
        9: "https://" + c["ci_config_ref_uri"],
        10: c.get("ci_config_sha"),
        11: c.get("runner_environment"),
        12: f"{server}/{c['project_path']}",
        13: c.get("sha"),
        14: git_ref,
        15: c.get("project_id"),
        16: f"{server}/{c['namespace_path']}" if c.get("namespace_path") else None,
        17: c.get("namespace_id"),
        18: "https://" + c["ci_config_ref_uri"],
        19: c.get("ci_config_sha"),
        20: c.get("pipeline_source"),
        21: f"{server}/{c['project_path']}/-/jobs/{c['job_id']}" if c.get("job_id") else None,
        22: c.get("project_visibility"),
        23: c.get("environment"),
        24: c.get("sub"),
    }
    ext += [(n, v) for n, v in values.items() if v]
    return Identity("uri", "https://" + c["ci_config_ref_uri"], str(claims["sub"]), tuple(sorted(ext)))
