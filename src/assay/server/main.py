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
    app = asgi(settings)
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level="warning", access_log=False, timeout_graceful_shutdown=5
    )
