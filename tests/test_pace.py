"""MAIL_RATE_LIMIT: one budget a second for every sending thread of every worker
process, counted in Redis. Asserted on when the real SMTP server accepted each
message: no five acceptances (at 4 a second) come closer together than a second, less
the jitter of an SMTP conversation (the budget is taken when a send starts)."""

from __future__ import annotations

from app.accounts import service as accounts
from app.notifications.pace import Pace, item_for
from tests.processes import wait_until

JITTER = 0.15  # seconds between taking the budget and the server's 250


def tightest_span(times: list[float], limit: int) -> float:
    """The shortest time in which limit + 1 messages were accepted."""
    times = sorted(times)
    return min(times[i + limit] - times[i] for i in range(len(times) - limit))


def test_two_processes_share_one_budget(app, mail_server, workers):
    for n in range(12):
        accounts.sign_up(f"user{n}@example.com", f"User {n}")
    settings = {"MAIL_RATE_LIMIT": 4, "WORKER_CONCURRENCY": 4}
    workers.start(**settings)
    workers.start(**settings)
    wait_until(lambda: len(mail_server.caught) >= 12, "12 messages", timeout=20)
    times = [c.received_at for c in mail_server.caught]
    assert tightest_span(times, 4) >= 1.0 - JITTER, sorted(round(t - min(times), 2) for t in times)
    assert max(times) - min(times) >= 2.0 - JITTER  # 12 at 4 a second: three windows


def test_without_a_limit_nothing_waits(app):
    assert Pace(app).item is None
    assert Pace(app).wait() == 0.0


def test_fractions_become_a_budget_a_minute():
    assert (item_for(14).amount, item_for(14).get_expiry()) == (14, 1)
    assert (item_for(2.5).amount, item_for(2.5).get_expiry()) == (150, 60)
