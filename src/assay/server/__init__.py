"""ASGI app (FastAPI + uvicorn): routes map HTTP to services. Auth, limits, OpenAPI.

Owns: HTTP concerns only — routing, request limits, error mapping to status
codes and Rekor/Fulcio-shaped JSON. May import: every service package.
Invariants: a client error is a 4xx with ``{"code", "message", "reason"}``,
never a 500; request bodies over 4 MiB are refused with 413 before parsing;
bodies are parsed once, strictly (``models``: the shared JSON loader, then
pydantic); the event loop runs no unbounded work — verification, signing and
storage calls go through ``work.WorkerPool`` (bounded lanes, a deadline each).
"""
