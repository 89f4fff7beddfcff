"""Prometheus metrics, one registry per app (tests create many apps in one process).

With several uvicorn workers, ``jpsi-serve`` points ``PROMETHEUS_MULTIPROC_DIR``
at a fresh directory before the workers start: each worker then writes its
values there and ``/metrics``, whichever worker answers, reports the sum over
all of them (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
)  # fmt: skip


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        multiprocess = MULTIPROC_ENV in os.environ
        # in multiprocess mode values live in the shared directory, read by the collector
        own = None if multiprocess else self.registry
        if multiprocess:
            MultiProcessCollector(self.registry)
        self.requests = Counter(
            "jpsi_http_requests",
            "HTTP requests by route template, method and status code.",
            ("route", "method", "status"),
            registry=own,
        )
        self.latency = Histogram(
            "jpsi_http_request_duration_seconds",
            "Time from request start to the end of the response, by route template.",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self.points = Counter(
            "jpsi_points_evaluated",
            "Kinematic points (or PDF points, or bins x PT values) evaluated, by endpoint.",
            ("endpoint",),
            registry=own,
        )
