"""Building the ASGI application from settings."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from starlette.exceptions import HTTPException

from assay import __version__
from assay.ca import jwks_file
from assay.ca.authority import CertificateAuthority
from assay.ca.ct import CTLog
from assay.ca.oidc import IssuerConfig, TokenVerifier, jwk_of
from assay.crypto import keys
from assay.errors import AssayError, EnvironmentFailure
from assay.log.note import LogIdentity
from assay.log.service import LogService
from assay.server import access_setup, routes_ca, routes_log, trust_history
from assay.server.config import MAX_BODY_BYTES, Settings, key_in_data_dir, signer_for, tree_id
from assay.server.limits import BodyLimit
from assay.server.work import WorkerPool
from assay.store.db import database_url, migrate, open_engine
from assay.store.schema import log_checkpoints
from assay.tsa.authority import TimestampAuthority

TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"


def _error(status: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "reason": reason, "message": message}, status_code=status)


# Reasons for the errors the framework raises itself (no route matched, a route without the method, ...).
HTTP_REASONS = {404: "unknown-route", 405: "method-not-allowed"}


def http_reason(status: int) -> str:
    """The stable reason for a framework-level HTTP error: named above, else the status phrase as a slug."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "http error"
    return HTTP_REASONS.get(status) or phrase.lower().replace(" ", "-").replace("'", "")


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        method, path = request.method, request.url.path
        if exc.status_code == 404:
            message = f"no route {path}"
        elif exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            message = f"{method} is not allowed on {path}" + (f"; allowed: {allowed}" if allowed else "")
        else:
            message = str(exc.detail)
        response = _error(exc.status_code, http_reason(exc.status_code), message)
        response.headers.update(exc.headers or {})  # 405 keeps its Allow header
        return response

    @app.exception_handler(AssayError)
    async def assay_error(_: Request, exc: AssayError) -> JSONResponse:
        status = 503 if isinstance(exc, EnvironmentFailure) else 400
        return _error(status, exc.reason, exc.message)

    @app.exception_handler(LookupError)
    async def not_found(_: Request, exc: LookupError) -> JSONResponse:
        return _error(404, "not-found", str(exc.args[0]) if exc.args else "not found")

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(400, "bad-request", f"{where}: {first.get('msg', 'invalid request')}")


def create_app(settings: Settings) -> FastAPI:
    """The server: storage opened and migrated, keys loaded or generated, services started."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = open_engine(database_url(settings.database, settings.data_dir))
    migrate(engine)
    signer = signer_for(settings.log_key, settings.data_dir, "log")
    spki = keys.spki_der(signer.public_key)
    log_id = hashlib.sha256(spki).digest()
    tid = tree_id(settings.data_dir) if not settings.database else str(int.from_bytes(log_id[:7], "big"))
    identity = LogIdentity(origin=f"{settings.log_name} - {tid}", name=settings.log_name, log_id=log_id, signer=signer)
    log = LogService(engine, identity)

    app = FastAPI(
        title="assay",
        version=__version__,
        description="Self-hostable software supply-chain security: transparency log (Rekor v1 API).",
    )
    app.state.settings = settings
    app.state.log = log
    app.state.pool = pool = WorkerPool()  # CPU-bound verification and blocking work, off the event loop
    app.state.tree_id = tid
    app.state.log_public_pem = keys.public_pem(signer.public_key)
    with engine.connect() as conn:
        started = conn.execute(select(func.min(log_checkpoints.c.created))).scalar_one()
    log_start = datetime.fromtimestamp(int(started or 0), tz=UTC)

    def trusted_root() -> dict[str, Any]:
        return {
            "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
            "tlogs": [
                {
                    "baseUrl": settings.url,
                    "hashAlgorithm": "SHA2_256",
                    "publicKey": {
                        "rawBytes": base64.b64encode(spki).decode(),
                        "keyDetails": _key_details(signer.public_key),
                        "validFor": {"start": log_start.strftime("%Y-%m-%dT%H:%M:%SZ")},
                    },
                    "logId": {"keyId": base64.b64encode(log_id).decode()},
                }
            ],
            "certificateAuthorities": [],
            "ctlogs": [],
            "timestampAuthorities": [],
        }

    ca_dir = settings.data_dir / "ca"
    ct = CTLog(signer_for(None, settings.data_dir, "ctlog"))
    ca = CertificateAuthority(
        ca_dir,
        signer_for(None, settings.data_dir, "fulcio-root"),
        signer_for(settings.ca_key, settings.data_dir, "fulcio"),
        ct,
    )
    tsa = TimestampAuthority(
        ca_dir, signer_for(None, settings.data_dir, "tsa-root"), signer_for(None, settings.data_dir, "tsa")
    )
    issuers = {i.url: i for i in (IssuerConfig.parse(spec, settings.audience) for spec in settings.oidc_issuers)}
    discovered = set(issuers)  # issuers clients can log in with (the signing config's OIDC URLs)
    tokens = TokenVerifier(issuers)
    for url, source in jwks_file.sources(settings.oidc_jwks).items():  # static keys: K8s clusters, SPIFFE bundles
        issuers.setdefault(url, IssuerConfig(url, "uri", settings.audience))
        tokens.local_jwks[url] = source
    app.state.static_issuers = frozenset(set(tokens.local_jwks) - discovered)  # no login page, no signing config
    app.state.ca, app.state.ct, app.state.tsa, app.state.tokens = ca, ct, tsa, tokens
    if settings.dev:
        dev_key = key_in_data_dir(settings.data_dir, "dev-oidc")
        dev_pem = keys.public_pem(dev_key.public_key)
        dev_kid = keys.key_id(dev_key.public_key)[:16]
        app.state.dev_key, app.state.dev_kid = dev_key, dev_kid
        app.state.dev_jwks = lambda: {"keys": [jwk_of(dev_pem, dev_kid)]}
        base = settings.url.rstrip("/") + "/dev/oidc"
        for url, kind in ((base, "email"), (settings.dev_github_issuer_url, "github-workflow")):
            issuers[url] = IssuerConfig(url, kind, settings.audience)
            tokens.local_jwks[url] = app.state.dev_jwks
            discovered.add(url)
        app.include_router(routes_ca.dev_router)

    def _cert_authority(chain: list[x509.Certificate], uri: str) -> dict[str, Any]:
        root = chain[-1]
        org = root.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        cn = root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return {
            "subject": {"organization": str(org[0].value) if org else "", "commonName": str(cn[0].value) if cn else ""},
            "uri": uri,
            "certChain": {
                "certificates": [
                    {"rawBytes": base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()} for c in chain
                ]
            },
            "validFor": {"start": root.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")},
        }

    def full_trusted_root() -> dict[str, Any]:
        doc = trusted_root()
        doc["certificateAuthorities"] = [_cert_authority(ca.chain, settings.url)]
        doc["ctlogs"] = [
            {
                "baseUrl": settings.url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": base64.b64encode(ct.spki).decode(),
                    "keyDetails": _key_details(ct.signer.public_key),
                    "validFor": {"start": ca.root.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")},
                },
                "logId": {"keyId": base64.b64encode(ct.log_id).decode()},
            }
        ]
        doc["timestampAuthorities"] = [_cert_authority(tsa.chain, settings.url.rstrip("/") + "/api/v1/timestamp")]
        return trust_history.merge(settings.data_dir, doc)  # keys retired by `assay server rotate-key` (issue 25)

    def signing_config() -> dict[str, Any]:
        start = {"start": log_start.strftime("%Y-%m-%dT%H:%M:%SZ")}

        def svc(url: str) -> dict[str, Any]:
            return {"url": url, "majorApiVersion": 1, "validFor": start, "operator": "assay"}

        return {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [svc(settings.url)],
            "oidcUrls": [svc(url) for url in issuers if url in discovered],
            "rekorTlogUrls": [svc(settings.url)],
            "tsaUrls": [svc(settings.url.rstrip("/") + "/api/v1/timestamp")],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        }

    app.state.trusted_root = full_trusted_root
    app.state.signing_config = signing_config

    seen: dict[str, float] = {"at": float("-inf"), "size": 0}

    @app.get("/healthz", tags=["ops"], summary="Liveness and the log's size (read at most once a second)")
    async def healthz() -> dict[str, Any]:
        if time.monotonic() - seen["at"] > 1.0:  # answered on the loop; storage is read off it, rarely
            seen["size"], seen["at"] = await pool.blocking(lambda: log.head().size), time.monotonic()
        return {"status": "ok", "version": __version__, "treeSize": int(seen["size"])}

    app.include_router(routes_log.router)
    app.include_router(routes_ca.router)
    _mount_evidence(app, engine, full_trusted_root)  # issue 17: evidence store, log search, artifact repository
    _install_errors(app)
    anchoring = access_setup.attach(app, settings, engine, log)
    _mount_registry(app, settings)  # issue 27: the registry token service
    scheduler = _mount_profiles(app, settings, engine, full_trusted_root)  # issue 24: profiles and evaluation
    from assay.server import routes_broker

    app.include_router(routes_broker.router)  # issue 26: the key broker
    from assay.server import routes_ui

    routes_ui.mount(app, http_reason)  # issue 24: the web dashboard at /ui
    from assay.server import routes_tuf

    resigner = routes_tuf.mount(app, settings, engine)  # issue 25: TUF repositories at /tuf/{project}/

    @app.on_event("startup")
    def _warm() -> None:
        pool.warm()
        scheduler.start()
        resigner.start()

    @app.on_event("shutdown")
    def _close() -> None:
        scheduler.stop()
        resigner.stop()
        anchoring.stop()
        pool.close()
        log.close()
        engine.dispose()

    app.state.close = _close  # the parent of --workers builds the app once (keys, schema, bootstrap), then closes it
    return app


def _mount_evidence(app: FastAPI, engine: Any, trusted_root: Any) -> None:
    from assay.server import routes_evidence, routes_repository

    routes_evidence.mount(app, engine, trusted_root)
    app.include_router(routes_evidence.router)
    routes_repository.mount(app)
    app.include_router(routes_repository.router)


def _mount_registry(app: FastAPI, settings: Settings) -> None:
    from assay.server import routes_registry

    routes_registry.mount(app, settings)
    app.include_router(routes_registry.router)


def _mount_profiles(app: FastAPI, settings: Settings, engine: Any, trusted_root: Any) -> Any:
    from assay.server import routes_profiles
    from assay.server.profiles_view import ProfilesQueries

    app.include_router(routes_profiles.router)
    app.state.profiles_view = ProfilesQueries(engine)  # the dashboard's profile pages read through it
    return routes_profiles.mount(app, settings, engine, trusted_root)


def _key_details(key: keys.PublicKey) -> str:
    name = keys.key_type_name(key)
    return {
        "ecdsa-p256": "PKIX_ECDSA_P256_SHA_256",
        "ecdsa-p384": "PKIX_ECDSA_P384_SHA_384",
        "ecdsa-p521": "PKIX_ECDSA_P521_SHA_512",
        "ed25519": "PKIX_ED25519",
    }.get(name, "PKIX_RSA_PKCS1V15_3072_SHA256")


def asgi(settings: Settings) -> Any:
    """The app wrapped in the body-size limit, with the log's append path served directly."""
    app = create_app(settings)
    log, pool = app.state.log, app.state.pool

    async def append(body: bytes) -> tuple[int, dict[str, str], bytes]:
        return await routes_log.append(log, pool, body)

    from assay.server.routes_repository import STREAMED

    limited = BodyLimit(app, MAX_BODY_BYTES, {("POST", "/api/v1/log/entries"): append}, streamed=STREAMED)
    return access_setup.outermost(limited, app, settings)
