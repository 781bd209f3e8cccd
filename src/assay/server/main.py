"""Running the server with uvicorn."""

from __future__ import annotations

import sys

from assay.server.config import Settings


def serve(settings: Settings) -> None:
    """Start uvicorn in this process (blocks)."""
    import uvicorn

    from assay.server.app import asgi

    if settings.dev:
        sys.stderr.write(
            "\n*** assay server --dev: development mode. Keys live in "
            f"{settings.data_dir}; do not use this instance for production trust. ***\n\n"
        )
    if settings.log_write not in ("open", "require-token"):
        from assay.errors import InputError

        raise InputError("bad-log-write", f"--log-write {settings.log_write!r}", hint="use open or require-token")
    admins = settings.server_admins()
    from assay.ca import jwks_file

    jwks_file.sources(settings.oidc_jwks)  # a bad key file is one clear line at startup, not a failed worker
    if settings.dev:
        sys.stderr.write(
            f"*** --dev: {settings.dev_issuer} identity admin@example.com is a SERVER ADMINISTRATOR: anyone who can "
            "reach the dev issuer can log in as it. ***\n\n"
        )
    for issuer, subject in sorted(admins):
        sys.stderr.write(f"assay server: administrator {subject} ({issuer})\n")
    app = asgi(settings)
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level="warning", access_log=False, timeout_graceful_shutdown=5
    )
