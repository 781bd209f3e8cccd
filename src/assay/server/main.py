"""Running the server with uvicorn: one process, or ``--workers N`` processes on one listening socket.

With several workers the parent first builds the app once and closes it (the schema migrated, every key and
certificate generated, the --dev bootstrap done), so the workers only load what is on disk and never race to
create it; uvicorn's supervisor then spawns the workers, each building its own app from the same settings
(passed in ``ASSAY_SERVER_SETTINGS``), and replaces a worker that dies.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from assay.server.config import Settings

SETTINGS_ENV = "ASSAY_SERVER_SETTINGS"


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
    common: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "log_level": "warning", "access_log": False,
        "timeout_graceful_shutdown": 5,
    }  # fmt: skip
    if settings.workers <= 1:
        uvicorn.run(asgi(settings), **common)
        return
    from assay.server.app import create_app

    create_app(settings).state.close()
    os.environ[SETTINGS_ENV] = encode(settings)
    uvicorn.run("assay.server.main:worker_app", factory=True, workers=settings.workers, **common)


def encode(settings: Settings) -> str:
    """The settings as JSON, for the worker processes."""
    doc = dataclasses.asdict(settings)
    doc["data_dir"] = str(settings.data_dir)
    return json.dumps(doc)


def decode(text: str) -> Settings:
    """Settings from :func:`encode`."""
    doc = json.loads(text)
    doc["data_dir"] = Path(doc["data_dir"])
    return Settings(**doc)


def worker_app() -> Any:
    """One worker's ASGI app (uvicorn calls this in each spawned process)."""
    from assay.server.app import asgi

    return asgi(decode(os.environ[SETTINGS_ENV]))
