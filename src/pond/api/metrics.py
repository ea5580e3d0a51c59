"""`GET /metrics`: what the service is doing, for Prometheus.

Two kinds of figures:

- per request, counted by the access log middleware (`pond.api.access_log`):
  `pond_http_requests_total` and the `pond_http_request_duration_seconds`
  histogram, by method, route template (never the raw path: ids and link
  signatures would make a series each) and status;
- read from the database at every scrape, so that every process reports the
  same cluster-wide truth: snapshots by state, export jobs by status (the queue
  depth is `pond_jobs{status="todo"}`), rows and bytes exported, and
  `pond_database_up`.

The figures live in a registry of the application, not in prometheus-client's
global one: each test server (and each app in a process) starts from zero.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from psycopg import OperationalError
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from pond.api import repository

log = structlog.get_logger("pond.api")

SNAPSHOT_STATES = ("pending", "running", "complete", "failed", "expired")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Long-polls wait up to a minute: the buckets reach past that.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# A scrape must not hang on a database that is down: it reports that instead.
_SCRAPE_DB_TIMEOUT = 2.0


class HttpMetrics:
    """The per-request counter and histogram of one application."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["method", "route", "status"]
        self.requests = Counter(
            "pond_http_requests",
            "HTTP requests answered, by method, route template and status.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "pond_http_request_duration_seconds",
            "Time from request to the end of the answer, by method, route template and status.",
            labels,
            buckets=_BUCKETS,
            registry=self.registry,
        )

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        """Count one answered request; the route is the template the router matched."""
        method = scope["method"] if scope["method"] in _METHODS else "other"
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)


def http_metrics(app: Any) -> HttpMetrics:
    """The metrics of `app` (a Starlette application), made on first use."""
    metrics: HttpMetrics | None = getattr(app.state, "pond_metrics", None)
    if metrics is None:
        metrics = HttpMetrics()
        app.state.pond_metrics = metrics
    return metrics


@dataclass
class DatabaseFigures:
    """What the database said at one scrape; `up` is False if it could not be asked."""

    up: bool = False
    snapshots: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    bytes: int = 0


async def read_figures(pool: AsyncConnectionPool[Any]) -> DatabaseFigures:
    """Ask the database for the gauges; a database out of reach gives `up=False`."""
    try:
        async with pool.connection(timeout=_SCRAPE_DB_TIMEOUT) as conn:
            snapshots = await repository.snapshot_counts(conn)
            jobs = await repository.job_counts(conn)
            stored = await repository.stored(conn)
    except (OperationalError, PoolTimeout) as exc:
        log.warning("metrics.database_unavailable", error=type(exc).__name__)
        return DatabaseFigures()
    return DatabaseFigures(
        up=True, snapshots=snapshots, jobs=jobs, rows=stored.rows, bytes=stored.bytes
    )


class DatabaseCollector(Collector):
    """Gauges made from the figures of one scrape."""

    def __init__(self, figures: DatabaseFigures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        figures = self.figures
        up = GaugeMetricFamily("pond_database_up", "1 if the database answered this scrape.")
        up.add_metric([], 1 if figures.up else 0)
        yield up
        if not figures.up:
            return
        snapshots = GaugeMetricFamily(
            "pond_snapshots", "Snapshots in the database, by state.", labels=["state"]
        )
        for state in sorted({*SNAPSHOT_STATES, *figures.snapshots}):
            snapshots.add_metric([state], figures.snapshots.get(state, 0))
        yield snapshots
        jobs = GaugeMetricFamily(
            "pond_jobs",
            "Jobs in the procrastinate queue, by status; todo is the queue depth.",
            labels=["status"],
        )
        for status, count in sorted(figures.jobs.items()):
            jobs.add_metric([status], count)
        yield jobs
        yield GaugeMetricFamily(
            "pond_exported_rows", "Data rows in the parts of stored snapshots.", value=figures.rows
        )
        yield GaugeMetricFamily(
            "pond_exported_bytes", "Bytes in the parts of stored snapshots.", value=figures.bytes
        )


async def scrape(request: Request) -> Response:
    """The Prometheus text exposition: request figures, then the database gauges."""
    figures = await read_figures(request.app.state.pond.pool)
    gauges = CollectorRegistry()
    gauges.register(DatabaseCollector(figures))
    body = generate_latest(http_metrics(request.app).registry) + generate_latest(gauges)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", scrape, methods=["GET"])]
