import pytest

from assay.ca.claims import identity_for
from assay.ca.oidc import IssuerConfig, TokenError
from assay.errors import InputError


def _ext(identity) -> dict[int, str]:
    return dict(identity.extensions)


def test_email_issuer():
    i = identity_for(
        IssuerConfig("https://idp.example", "email"), {"sub": "123", "email": "a@example.com", "email_verified": True}
    )
    assert (i.san_kind, i.san, i.challenge) == ("email", "a@example.com", "a@example.com")
    assert _ext(i)[8] == "https://idp.example"


def test_email_must_be_verified():
    with pytest.raises(TokenError) as exc:
        identity_for(
            IssuerConfig("https://idp.example", "email"),
            {"sub": "1", "email": "a@example.com", "email_verified": "true"},
        )
    assert exc.value.reason == "oidc-email-not-verified"


def test_uri_issuer_needs_uri_subject():
    i = identity_for(IssuerConfig("https://spiffe.example", "uri"), {"sub": "spiffe://example.org/ci"})
    assert (i.san_kind, i.san) == ("uri", "spiffe://example.org/ci")
    with pytest.raises(TokenError):
        identity_for(IssuerConfig("https://spiffe.example", "uri"), {"sub": "not a uri"})


def test_gitlab_pipeline_claims():
    claims = {
        "sub": "project_path:group/app:ref_type:tag:ref:v1.0",
        "ci_config_ref_uri": "gitlab.com/group/app//.gitlab-ci.yml@refs/tags/v1.0",
        "ci_config_sha": "c" * 40,
        "project_path": "group/app",
        "project_id": "77",
        "namespace_path": "group",
        "namespace_id": "7",
        "ref": "v1.0",
        "ref_type": "tag",
        "sha": "a" * 40,
        "pipeline_source": "push",
        "runner_environment": "gitlab-hosted",
        "job_id": "999",
        "project_visibility": "private",
    }
    i = identity_for(IssuerConfig("https://gitlab.com", "gitlab-pipeline"), claims)
    e = _ext(i)
    assert i.san == "https://gitlab.com/group/app//.gitlab-ci.yml@refs/tags/v1.0"
    assert e[12] == "https://gitlab.com/group/app" and e[14] == "refs/tags/v1.0" and e[13] == "a" * 40
    assert (
        e[16] == "https://gitlab.com/group"
        and e[21] == "https://gitlab.com/group/app/-/jobs/999"
        and e[22] == "private"
    )
    assert i.challenge == claims["sub"]
    del claims["ci_config_ref_uri"]
    with pytest.raises(TokenError) as exc:
        identity_for(IssuerConfig("https://gitlab.com", "gitlab-pipeline"), claims)
    assert exc.value.reason == "oidc-missing-claims"


def test_github_workflow_requires_workflow_claims():
    with pytest.raises(TokenError):
        identity_for(
            IssuerConfig("https://token.actions.githubusercontent.com", "github-workflow"),
            {"sub": "repo:a/b:ref:refs/heads/main"},
        )


def test_issuer_config_parsing():
    assert IssuerConfig.parse("https://gitlab.com=gitlab-pipeline").type == "gitlab-pipeline"
    assert IssuerConfig.parse("https://idp.example/").url == "https://idp.example"
    with pytest.raises(InputError) as exc:
        IssuerConfig.parse("https://idp.example=weird")
    assert exc.value.reason == "bad-oidc-issuer"
