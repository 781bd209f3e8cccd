"""Prometheus metrics of one webhook process (a registry of its own, served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 8.0, 10.0)


class Metrics:
    """Decisions by result, request latency, cache hits and misses, registry operations, coalesced waits."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "assay_admission_decisions", "Admission decisions", ["webhook", "result"], registry=self.registry
        )
        self.latency = Histogram(
            "assay_admission_request_seconds",
            "Time to answer an AdmissionReview",
            ["webhook"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.cache = Counter("assay_admission_cache", "Cache lookups", ["kind", "result"], registry=self.registry)
        self.registry_ops = Counter(
            "assay_admission_registry_operations",
            "Registry operations (tag resolution, fetching and verifying attached signatures)",
            ["registry", "op", "result"],
            registry=self.registry,
        )
        self.coalesced = Counter(
            "assay_admission_coalesced",
            "Requests that waited for an identical verification in flight",
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
