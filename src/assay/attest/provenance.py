"""SLSA provenance v1: generation from GitHub Actions, GitLab CI or a generic builder, and checks.

Generation only writes what the environment states; nothing is invented (no
start time unless the platform or ``--started-on`` gives one). The checks
compare a statement (and, for keyless bundles, the certificate's claims) with
what the verifier expects; they agree or fail with a reason code naming the
expected and found values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assay.errors import InputError, VerificationError

PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
GITHUB_BUILD_TYPE = "https://actions.github.io/buildtypes/workflow/v1"
GITLAB_BUILD_TYPE = "https://assay.dev/buildtypes/gitlab-ci/v1"
GENERIC_BUILD_TYPE = "https://assay.dev/buildtypes/generic/v1"


def _drop_empty(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = _drop_empty(v)
        if v not in (None, "", {}, []):
            out[k] = v
    return out


def detect(env: Mapping[str, str]) -> str:
    if env.get("GITHUB_ACTIONS") == "true":
        return "github"
    if env.get("GITLAB_CI") == "true":
        return "gitlab"
    return "generic"


def _github(env: Mapping[str, str], builder_id: str | None) -> dict[str, Any]:
    server = env.get("GITHUB_SERVER_URL", "https://github.com")
    repo = env.get("GITHUB_REPOSITORY", "")
    ref = env.get("GITHUB_REF", "")
    workflow_ref = env.get("GITHUB_WORKFLOW_REF", "")  # owner/repo/.github/workflows/x.yml@refs/heads/main
    path = workflow_ref.split("@", 1)[0][len(repo) + 1 :] if workflow_ref.startswith(repo + "/") else ""
    runner = env.get("RUNNER_ENVIRONMENT", "")
    if builder_id is None:
        if runner:
            builder_id = f"https://github.com/actions/runner/{runner}"
        elif workflow_ref:
            builder_id = f"{server}/{workflow_ref}"
    run_id, attempt = env.get("GITHUB_RUN_ID", ""), env.get("GITHUB_RUN_ATTEMPT", "")
    invocation = f"{server}/{repo}/actions/runs/{run_id}/attempts/{attempt}" if run_id and attempt else ""
    deps = []
    if repo and env.get("GITHUB_SHA"):
        deps.append({"uri": f"git+{server}/{repo}@{ref}", "digest": {"gitCommit": env["GITHUB_SHA"]}})
    return {
        "buildDefinition": {
            "buildType": GITHUB_BUILD_TYPE,
            "externalParameters": {
                "workflow": {"ref": ref, "repository": f"{server}/{repo}" if repo else "", "path": path}
            },
            "internalParameters": {
                "github": {
                    "event_name": env.get("GITHUB_EVENT_NAME", ""),
                    "repository_id": env.get("GITHUB_REPOSITORY_ID", ""),
                    "repository_owner_id": env.get("GITHUB_REPOSITORY_OWNER_ID", ""),
                    "runner_environment": runner,
                }
            },
            "resolvedDependencies": deps,
        },
        "runDetails": {"builder": {"id": builder_id or ""}, "metadata": {"invocationId": invocation}},
    }


def _gitlab(env: Mapping[str, str], builder_id: str | None) -> dict[str, Any]:
    project_url = env.get("CI_PROJECT_URL", "")
    tag = env.get("CI_COMMIT_TAG", "")
    branch = env.get("CI_COMMIT_BRANCH", "") or env.get("CI_COMMIT_REF_NAME", "")
    ref = f"refs/tags/{tag}" if tag else (f"refs/heads/{branch}" if branch else "")
    if builder_id is None and env.get("CI_SERVER_URL") and env.get("CI_RUNNER_ID"):
        builder_id = f"{env['CI_SERVER_URL']}/{env.get('CI_PROJECT_PATH', '')}/-/runners/{env['CI_RUNNER_ID']}"
    deps = []
    if project_url and env.get("CI_COMMIT_SHA"):
        deps.append({"uri": f"git+{project_url}@{ref}", "digest": {"gitCommit": env["CI_COMMIT_SHA"]}})
    return {
        "buildDefinition": {
            "buildType": GITLAB_BUILD_TYPE,
            "externalParameters": {
                "source": {"repository": project_url, "ref": ref},
                "config": {"path": env.get("CI_CONFIG_PATH", "")},
                "pipelineSource": env.get("CI_PIPELINE_SOURCE", ""),
            },
            "internalParameters": {
                "gitlab": {
                    "project_id": env.get("CI_PROJECT_ID", ""),
                    "pipeline_id": env.get("CI_PIPELINE_ID", ""),
                    "job_id": env.get("CI_JOB_ID", ""),
                    "runner_id": env.get("CI_RUNNER_ID", ""),
                    "runner_description": env.get("CI_RUNNER_DESCRIPTION", ""),
                }
            },
            "resolvedDependencies": deps,
        },
        "runDetails": {
            "builder": {"id": builder_id or ""},
            "metadata": {"invocationId": env.get("CI_JOB_URL", ""), "startedOn": env.get("CI_JOB_STARTED_AT", "")},
        },
    }


def _generic(builder_id: str | None, source_uri: str | None, source_digest: str | None) -> dict[str, Any]:
    deps = []
    if source_uri:
        dep: dict[str, Any] = {"uri": source_uri}
        if source_digest:
            alg, sep, value = source_digest.partition(":")
            if not sep:
                raise InputError("usage", "--source-digest is ALGORITHM:VALUE (gitCommit:SHA or sha256:HEX)")
            dep["digest"] = {alg: value}
        deps.append(dep)
    return {
        "buildDefinition": {
            "buildType": GENERIC_BUILD_TYPE,
            "externalParameters": {"source": {"uri": source_uri or ""}},
            "resolvedDependencies": deps,
        },
        "runDetails": {"builder": {"id": builder_id or ""}, "metadata": {}},
    }


def generate(
    env: Mapping[str, str],
    *,
    builder_id: str | None = None,
    source_uri: str | None = None,
    source_digest: str | None = None,
    materials: list[dict[str, Any]] | None = None,
    started_on: str | None = None,
    finished_on: str | None = None,
) -> dict[str, Any]:
    """A provenance predicate for the environment the command runs in."""
    kind = detect(env)
    if kind == "github":
        doc = _github(env, builder_id)
    elif kind == "gitlab":
        doc = _gitlab(env, builder_id)
    else:
        if not builder_id:
            raise InputError("builder-id-required", "outside GitHub Actions and GitLab CI, pass --builder-id")
        doc = _generic(builder_id, source_uri, source_digest)
    doc["buildDefinition"]["resolvedDependencies"] += materials or []
    meta = doc["runDetails"].setdefault("metadata", {})
    if started_on:
        meta["startedOn"] = started_on
    if finished_on:
        meta["finishedOn"] = finished_on
    if not doc["runDetails"]["builder"]["id"]:
        raise InputError(
            "builder-id-required", "the builder cannot be identified from the environment; pass --builder-id"
        )
    return _drop_empty(doc)


# ---- checks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectations:
    """What the verifier requires of the provenance (slsa-verifier's flags)."""

    source_uri: str  # github.com/o/r
    branch: str | None = None
    tag: str | None = None
    builder_id: str | None = None

    @property
    def repository(self) -> str:
        uri = self.source_uri
        return uri if "://" in uri else "https://" + uri

    @property
    def ref(self) -> str | None:
        if self.branch:
            return f"refs/heads/{self.branch}"
        if self.tag:
            return f"refs/tags/{self.tag}"
        return None


def _strip_git(uri: str) -> tuple[str, str | None]:
    """``git+https://host/o/r@refs/heads/x`` → (``https://host/o/r``, ``refs/heads/x``)."""
    uri = uri.removeprefix("git+")
    base, sep, ref = uri.partition("@")
    return base.removesuffix(".git"), (ref if sep else None)


def source_of(predicate: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(repository, ref, commit) the provenance names."""
    bd = predicate.get("buildDefinition") or {}
    ext = bd.get("externalParameters") or {}
    wf = ext.get("workflow") or {}
    src = ext.get("source") or {}
    repo = wf.get("repository") or src.get("repository") or None
    ref = wf.get("ref") or src.get("ref") or None
    commit = None
    for dep in bd.get("resolvedDependencies") or []:
        if isinstance(dep, dict) and isinstance(dep.get("uri"), str) and dep["uri"].startswith("git+"):
            dep_repo, dep_ref = _strip_git(dep["uri"])
            repo = repo or dep_repo
            ref = ref or dep_ref
            commit = (dep.get("digest") or {}).get("gitCommit") or (dep.get("digest") or {}).get("sha1")
            break
    if isinstance(src.get("uri"), str) and not repo:
        repo, ref2 = _strip_git(src["uri"])
        ref = ref or ref2
    return repo, ref, commit


def check(statement_type: str, predicate: Any, expect: Expectations, claims: dict[str, str]) -> list[str]:
    """Raise with a reason code on the first disagreement; return what was checked."""
    if statement_type != PREDICATE_TYPE:
        raise VerificationError(
            "predicate-type-mismatch", f"expected {PREDICATE_TYPE}, found {statement_type}", step="provenance"
        )
    if not isinstance(predicate, dict):
        raise VerificationError("provenance-malformed", "the provenance predicate is not an object", step="provenance")
    done = []
    builder = ((predicate.get("runDetails") or {}).get("builder") or {}).get("id")
    if expect.builder_id is not None:
        if builder != expect.builder_id:
            raise VerificationError(
                "provenance-builder-mismatch",
                f"expected builder {expect.builder_id!r}, found {builder!r}",
                step="provenance",
            )
        done.append(f"builder {builder}")
    repo, ref, commit = source_of(predicate)
    if repo is None or repo.removesuffix(".git").rstrip("/") != expect.repository.rstrip("/"):
        raise VerificationError(
            "provenance-source-mismatch", f"expected source {expect.repository!r}, found {repo!r}", step="provenance"
        )
    done.append(f"source {repo}")
    if expect.ref is not None:
        if ref != expect.ref:
            raise VerificationError(
                "provenance-ref-mismatch", f"expected ref {expect.ref!r}, found {ref!r}", step="provenance"
            )
        done.append(f"ref {ref}")
    # the certificate (keyless) and the predicate must tell the same story
    pairs = [("sourceRepositoryURI", repo), ("sourceRepositoryRef", ref), ("sourceRepositoryDigest", commit)]
    for claim, value in pairs:
        cert_value = claims.get(claim)
        if cert_value is not None and value is not None and cert_value.rstrip("/") != value.rstrip("/"):
            raise VerificationError(
                "provenance-cert-disagrees",
                f"the certificate says {claim}={cert_value!r}, the provenance says {value!r}",
                step="provenance",
            )
    if claims.get("sourceRepositoryURI"):
        cert_repo = claims["sourceRepositoryURI"].rstrip("/")
        if cert_repo != expect.repository.rstrip("/"):
            raise VerificationError(
                "provenance-source-mismatch",
                f"expected source {expect.repository!r}, the certificate says {cert_repo!r}",
                step="provenance",
            )
        done.append("certificate agrees with the provenance")
    return done
