"""MAIL_RATE_LIMIT: one budget a second for every sending thread of every worker
process, counted in Redis. The budget is taken when a send starts: no window of one
second holds more takings than the limit, whichever process or thread took them; the
server's acceptances follow, a round trip later."""

from __future__ import annotations

import threading
import time

from app.accounts import service as accounts
from app.notifications.pace import Pace, item_for
from tests.processes import wait_until


def tightest_span(times: list[float], limit: int) -> float:
    """The shortest time in which limit + 1 events happened."""
    times = sorted(times)
    return min(times[i + limit] - times[i] for i in range(len(times) - limit))


def test_paces_in_several_threads_and_apps_share_one_budget(app, settings):
    from app import create_worker_app

    app.config["MAIL_RATE_LIMIT"] = 5
    other = create_worker_app({**settings, "MAIL_RATE_LIMIT": 5})  # another process's
    paces = [Pace(app), Pace(other)]
    taken: list[float] = []
    lock = threading.Lock()

    def send(pace: Pace) -> None:
        for _ in range(5):
            pace.wait()
            with lock:
                taken.append(time.time())

    threads = [threading.Thread(target=send, args=(paces[n % 2],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(taken) == 20
    # 20 from one budget of 5 a second: 5 at once, then 5 in each of the next three
    # seconds, so the last comes 3 s after the first. Two budgets (one per app) would
    # be done after 1 s, none at once. Each taking is timed when its thread gets the
    # GIL back after the hit, which on a loaded machine was seen 0.3 s late: the span
    # of the whole run, unlike that of any 6 takings, shrinks only by the first one's
    # lateness.
    assert max(taken) - min(taken) >= 2.5, sorted(round(t - min(taken), 3) for t in taken)
    assert tightest_span(taken, 5) >= 0.5, sorted(round(t - min(taken), 3) for t in taken)


def test_two_processes_share_one_budget(app, mail_server, workers):
    for n in range(12):
        accounts.sign_up(f"user{n}@example.com", f"User {n}")
    settings = {"MAIL_RATE_LIMIT": 4, "WORKER_CONCURRENCY": 4}
    workers.start(**settings)
    workers.start(**settings)
    wait_until(lambda: len(mail_server.caught) >= 12, "12 messages", timeout=20)
    times = [c.received_at for c in mail_server.caught]
    # 12 at 4 a second from one budget: three windows at least (less the round trip
    # between taking the budget and the server's 250 for the first ones).
    assert max(times) - min(times) >= 1.5, sorted(round(t - min(times), 2) for t in times)


def test_without_a_limit_nothing_waits(app):
    assert Pace(app).item is None
    assert Pace(app).wait() == 0.0


def test_fractions_become_a_budget_a_minute():
    assert (item_for(14).amount, item_for(14).get_expiry()) == (14, 1)
    assert (item_for(2.5).amount, item_for(2.5).get_expiry()) == (150, 60)
