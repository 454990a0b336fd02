"""Prometheus metrics (issue 13, part 4): /metrics on the web (bearer token), a worker's
own port, a supervisor's port summing its workers, and gunicorn's workers summed in
multiprocess mode; each scraped over real HTTP, before and after mail is sent.

The scrapes are parsed with prometheus_client's own text parser."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from app.accounts import service as accounts
from tests.processes import ROOT, free_port, listening, wait_for_mail, wait_until, worker_env

TOKEN = "test-metrics-token"
HEALTHZ = "health.healthz"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value}."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(url: str, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        return r.read().decode()


# -- the web: /metrics ----------------------------------------------------------------------


@pytest.fixture
def metered(settings, redis):
    application = create_app({**settings, "METRICS_TOKEN": TOKEN})
    with application.app_context():
        yield application


def test_without_a_token_setting_there_is_no_metrics_page(app):
    assert app.test_client().get("/metrics").status_code == 404


def test_metrics_ask_for_the_bearer_token(metered):
    client = metered.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert b"mooch_" not in response.data
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_the_numbers_move_as_mail_is_committed(metered, mail_server):
    client = metered.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    before = samples(client.get("/metrics", headers=auth).get_data(as_text=True))
    assert value(before, "mooch_up") == 1.0
    client.get("/healthz")
    accounts.sign_up("bob@example.com", "Bob")
    accounts.sign_up("ann@example.com", "Ann")
    after = samples(client.get("/metrics", headers=auth).get_data(as_text=True))
    queue = metered.config["RQ_QUEUE"]
    assert (
        value(after, "mooch_queue_jobs", queue=queue)
        == value(before, "mooch_queue_jobs", queue=queue) + 2
    )
    assert value(after, "mooch_notifications", status="pending") == 2
    assert value(after, "mooch_oldest_pending_seconds") >= 0
    assert value(
        after, "mooch_request_seconds_count", endpoint=HEALTHZ, method="GET", code="200"
    ) >= 1 + value(
        before, "mooch_request_seconds_count", endpoint=HEALTHZ, method="GET", code="200"
    )


# -- the worker: its own port, and a supervisor's ----------------------------------------


@pytest.mark.slow
def test_a_workers_port_counts_each_delivery(app, mail_server, workers):
    port = free_port()
    worker = workers.start(WORKER_METRICS_PORT=port)
    listening(worker)
    url = f"http://127.0.0.1:{port}/metrics"
    before = samples(scrape(url))
    assert (
        value(before, "mooch_deliveries_total", notifier="signup_confirmation", outcome="sent") == 0
    )
    for n in range(3):
        accounts.sign_up(f"user{n}@example.com", f"User {n}")
    wait_for_mail(mail_server, 3, workers)

    def counted() -> dict | None:
        found = samples(scrape(url))
        sent = value(
            found, "mooch_deliveries_total", notifier="signup_confirmation", outcome="sent"
        )
        return found if sent == 3 else None

    after = wait_until(counted, "three deliveries counted", details=worker.tail)
    assert value(after, "mooch_smtp_seconds_count") == 3
    assert value(after, "mooch_delivery_latency_seconds_count", notifier="signup_confirmation") == 3
    assert value(after, "mooch_delivery_latency_seconds_sum", notifier="signup_confirmation") > 0


@pytest.mark.slow
def test_a_supervisors_port_sums_its_workers_and_counts_retries(app, mail_server, workers):
    port = free_port()
    supervisor = workers.start(
        "--processes", "2", "--concurrency", "2",
        WORKER_METRICS_PORT=port, NOTIFICATION_RETRY_BASE=0.2,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/metrics"
    wait_until(lambda: len(supervisor.children()) == 2, "two workers", details=supervisor.tail)
    mail_server.fail_next(2, "451 4.3.0 Try again later")
    count = 10
    for n in range(count):
        accounts.sign_up(f"user{n}@example.com", f"User {n}")
    wait_for_mail(mail_server, count, workers)

    def summed() -> dict | None:
        found = samples(scrape(url))
        sent = value(
            found, "mooch_deliveries_total", notifier="signup_confirmation", outcome="sent"
        )
        return found if sent == count else None

    found = wait_until(summed, f"{count} deliveries summed", details=workers.tails)
    retried = value(
        found, "mooch_deliveries_total", notifier="signup_confirmation", outcome="retry"
    )
    assert retried == 2
    # The supervisor sends nothing itself: what its port shows is read from its
    # workers' files.


# -- gunicorn: the web's workers, summed -----------------------------------------------------


@pytest.mark.slow
def test_gunicorns_workers_are_summed_at_metrics(settings, redis, tmp_path):
    port = free_port()
    shared = tmp_path / "metrics"
    env = worker_env(settings)
    env.update(METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(shared))
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
             "wsgi:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            try:
                return scrape(f"{base}/healthz") != ""
            except OSError:
                return False

        wait_until(answers, "gunicorn to answer", details=lambda: log.read_text())
        wait_until(
            lambda: log.read_text().count("Booting worker") >= 2,
            "both gunicorn workers to boot",
            details=lambda: log.read_text(),
        )
        sent = 1

        def both_counted() -> bool:
            # Requests at once, so that both workers take some (a sync worker takes one
            # at a time); each worker counts into a file of its own.
            nonlocal sent
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda _: scrape(f"{base}/healthz"), range(16)))
            sent += 16
            pids = {p.stem.rsplit("_", 1)[-1] for p in shared.glob("histogram_*.db")}
            return len(pids) == 2

        wait_until(both_counted, "both workers to count requests", details=lambda: log.read_text())
        # ...and whichever answers /metrics sums both.
        for _ in range(4):
            found = samples(scrape(f"{base}/metrics", TOKEN))
            served = value(
                found, "mooch_request_seconds_count",
                endpoint=HEALTHZ, method="GET", code="200",
            )  # fmt: skip
            assert served >= sent, log.read_text()
        assert value(found, "mooch_up") == 1.0
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(timeout=30)
