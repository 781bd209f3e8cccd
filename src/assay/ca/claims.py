"""Token claims → certificate identity (SAN, proof-of-possession challenge, Fulcio extensions), per issuer type."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from assay.ca.authority import Identity
from assay.ca.oidc import IssuerConfig, TokenError

MAX_EMAIL = 254  # RFC 5321 path limit
MAX_URI = 2048
MAX_VALUE = 4096  # one Fulcio extension value
# RFC 5322 dot-atom local part (no quoted strings, no comments) @ an RFC 1123 / 6125 host name, ASCII only.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_EMAIL = re.compile(rf"(?P<local>{_ATEXT}(?:\.{_ATEXT})*)@(?P<domain>{_LABEL}(?:\.{_LABEL})*)")
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?")
_URI_CHARS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")  # RFC 3986, no spaces
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _invalid(message: str) -> TokenError:
    return TokenError("oidc-identity-invalid", message)


def check_email(value: str) -> str:
    """An RFC 5322 addr-spec (dot-atom form, ASCII) whose domain is an RFC 6125 host name."""
    m = _EMAIL.fullmatch(value) if value.isascii() and len(value) <= MAX_EMAIL else None
    if m is None or len(m["local"]) > 64 or len(m["domain"]) > 253:
        raise _invalid(f"the token's email {value[:100]!r} is not an address a certificate can name")
    return value


def check_uri(value: str, schemes: tuple[str, ...] = ()) -> str:
    """An absolute RFC 3986 URI (ASCII, no spaces or controls) with a host, in one of ``schemes`` if given."""
    ok = value.isascii() and len(value) <= MAX_URI and _URI_CHARS.fullmatch(value) is not None
    parts = urlsplit(value) if ok else None
    if parts is None or not parts.scheme or (schemes and parts.scheme not in schemes):
        raise _invalid(f"the token's identity {value[:100]!r} is not a URI a certificate can name")
    if not parts.netloc or not _HOST.fullmatch(parts.netloc):
        raise _invalid(f"the token's identity {value[:100]!r} has no valid host")
    return value


def check_text(claims: dict[str, Any]) -> None:
    """No control characters and bounded length in any string claim that may reach a certificate."""
    for name, value in claims.items():
        if isinstance(value, str) and (len(value) > MAX_VALUE or _CONTROL.search(value)):
            raise TokenError(
                "oidc-claim-invalid", f"the token's {str(name)[:50]} claim has control characters or is too long"
            )


def _need(claims: dict[str, Any], *names: str) -> None:
    missing = [n for n in names if not claims.get(n)]
    if missing:
        raise TokenError("oidc-missing-claims", f"the token lacks {', '.join(missing)}")


def identity_for(issuer: IssuerConfig, claims: dict[str, Any]) -> Identity:
    """The certificate identity a verified token grants, its names validated before any certificate is issued."""
    identity = _identity(issuer, claims)
    if identity.san_kind == "email":
        check_email(identity.san)
    else:
        check_uri(identity.san, ("https",) if issuer.type != "uri" else ())
    check_text(claims)
    for _, value in identity.extensions:
        if len(value) > MAX_VALUE or _CONTROL.search(value) or not value.isprintable():
            raise TokenError("oidc-claim-invalid", "a token claim bound for the certificate has control characters")
    return identity


def _identity(issuer: IssuerConfig, claims: dict[str, Any]) -> Identity:
    ext: list[tuple[int, str]] = [(8, issuer.url), (1, issuer.url)]
    kind = issuer.type
    if kind == "email":
        _need(claims, "email")
        if not isinstance(claims["email"], str):
            raise TokenError("oidc-claim-invalid", "the token's email claim is not a string")
        if claims.get("email_verified") is not True:
            raise TokenError("oidc-email-not-verified", "the token's email address is not verified")
        return Identity("email", str(claims["email"]), str(claims["email"]), tuple(ext))
    if kind == "uri":
        sub = str(claims["sub"])
        if "://" not in sub:  # check_uri then validates the whole URI
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
