"""HTTP clients (httpx) for assay's own services and Sigstore-compatible ones.

Owns: request/response shapes on the wire, timeouts and retries, and turning
transport failures into ``EnvironmentFailure`` (exit 3) and 4xx answers into
errors carrying the server's reason. May import: ``formats``, ``errors``.
"""
