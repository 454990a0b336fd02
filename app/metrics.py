"""Prometheus metrics (issue 13): what a Prometheus server scrapes and an autoscaler
reads. Off unless configured, and then prometheus_client is not even imported (the
worker's idle memory is measured in `make bench`).

Two kinds, two places:

- What each process counts, kept by prometheus_client in the process (or, with
  PROMETHEUS_MULTIPROC_DIR set, in files that every process of a gunicorn master or a
  worker supervisor shares, read back summed):
  - `mooch_deliveries_total{notifier, outcome}`: every delivery attempt's outcome
    (sent, retry, failed, given_back, skipped); `outcome="retry"` counts the retries;
  - `mooch_delivery_latency_seconds{notifier}`: from the commit that made the row to the
    mail server's 250, for each mail sent;
  - `mooch_smtp_seconds`: how long the mail server took to take one message;
  - `mooch_request_seconds{endpoint, method, code}`: each web request.
  The worker serves its own on WORKER_METRICS_PORT (one port per supervisor: its
  worker processes share a directory); the web serves them at /metrics.
- What the system holds, read when /metrics is scraped (web only, so that a sum over
  targets never counts it twice): `mooch_queue_jobs{queue}`,
  `mooch_notifications{status}` (pending, failed, ...),
  `mooch_oldest_pending_seconds`, `mooch_workers_alive{host}`.

/metrics answers only a request bearing `Authorization: Bearer <METRICS_TOKEN>`; with
no METRICS_TOKEN set it does not exist (404).
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from typing import Any

from flask import Flask, Response, g, request

log = logging.getLogger(__name__)

# Seconds: from sub-millisecond local sinks to a slow provider's minutes of backlog.
SMTP_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_instruments: dict[str, Any] | None = None


def enable() -> None:
    """Count in this process from now on (idempotent: the instruments are made once
    per process, as prometheus_client registers them globally)."""
    global _instruments
    if _instruments is not None:
        return
    from prometheus_client import Counter, Histogram

    _instruments = {
        "deliveries": Counter(
            "mooch_deliveries",
            "Delivery attempts by notifier and outcome (sent, retry, failed, given_back, skipped).",
            ["notifier", "outcome"],
        ),
        "latency": Histogram(
            "mooch_delivery_latency_seconds",
            "From the commit that made a notification to the mail server accepting it.",
            ["notifier"],
            buckets=LATENCY_BUCKETS,
        ),
        "smtp": Histogram(
            "mooch_smtp_seconds",
            "How long the mail server took to accept one message.",
            buckets=SMTP_BUCKETS,
        ),
        "requests": Histogram(
            "mooch_request_seconds",
            "Web requests by endpoint, method and status code.",
            ["endpoint", "method", "code"],
            buckets=REQUEST_BUCKETS,
        ),
    }


def enabled() -> bool:
    return _instruments is not None


def delivered(
    notifier: str, outcome: str, smtp_seconds: float | None = None, latency: float | None = None
) -> None:
    """One delivery attempt's outcome (no-op unless enabled)."""
    if _instruments is None:
        return
    _instruments["deliveries"].labels(notifier, outcome).inc()
    if smtp_seconds is not None:
        _instruments["smtp"].observe(smtp_seconds)
    if latency is not None:
        _instruments["latency"].labels(notifier).observe(max(latency, 0.0))


def exposition() -> tuple[bytes, str]:
    """This process's metrics, or every process's sharing PROMETHEUS_MULTIPROC_DIR."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# -- the web --------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """/metrics and request timing, when METRICS_TOKEN is set."""
    token = app.config.get("METRICS_TOKEN")
    if not token:
        return
    enable()
    state = _state_registry(app)

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _time_request(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        if started is not None and _instruments is not None:
            endpoint = request.url_rule.endpoint if request.url_rule else "(unmatched)"
            _instruments["requests"].labels(
                endpoint, request.method, str(response.status_code)
            ).observe(time.perf_counter() - started)
        return response

    def metrics_view() -> Response:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return Response(
                "A bearer token is needed (METRICS_TOKEN).\n",
                401,
                {"WWW-Authenticate": 'Bearer realm="metrics"', "Content-Type": "text/plain"},
            )
        from prometheus_client import generate_latest

        body, content_type = exposition()
        return Response(body + generate_latest(state), content_type=content_type)

    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(metrics_view)
    limiter = app.extensions.get("limiter")
    if limiter is not None:
        limiter.exempt(metrics_view)


def _state_registry(app: Flask):
    """A registry of this app's own, read at each scrape: the queue, the outbox, the
    machines' live workers (what `worker.py status` reads)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector

    class State(Collector):
        def collect(self):
            from app.worker.status import collect

            report = collect(app)
            queues = GaugeMetricFamily(
                "mooch_queue_jobs", "Jobs waiting in each queue.", labels=["queue"]
            )
            for queue in report["queues"]:
                queues.add_metric([queue["name"]], queue["queued"])
            yield queues
            counts = report["notifications"]
            rows = GaugeMetricFamily(
                "mooch_notifications", "Notification rows by status.", labels=["status"]
            )
            for status, count in counts.items():
                if status != "oldest_pending_seconds":
                    rows.add_metric([status], count)
            yield rows
            oldest = counts.get("oldest_pending_seconds")
            yield GaugeMetricFamily(
                "mooch_oldest_pending_seconds",
                "Age of the oldest pending notification (0 when none is pending).",
                value=oldest or 0.0,
            )
            alive = GaugeMetricFamily(
                "mooch_workers_alive", "Live workers on each machine.", labels=["host"]
            )
            for host in report["hosts"]:
                alive.add_metric([host["host"]], host["workers"])
            yield alive
            yield GaugeMetricFamily(
                "mooch_up",
                "1 when Redis and the database both answered this scrape.",
                value=1.0 if report["redis"]["ok"] and report["database"]["ok"] else 0.0,
            )

    registry = CollectorRegistry(auto_describe=False)
    registry.register(State())
    return registry


# -- the worker -------------------------------------------------------------------------


def serve_worker(port: int) -> None:
    """WORKER_METRICS_PORT: this worker's (or, under PROMETHEUS_MULTIPROC_DIR, all its
    supervisor's workers') metrics on http://0.0.0.0:<port>/metrics."""
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    start_http_server(port, registry=registry)
    log.info("metrics on :%d/metrics", port)


def process_gone(pid: int) -> None:
    """A worker or web process that exited: drop its live gauges from the shared files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
