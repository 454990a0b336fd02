"""The worker's clock: every WORKER_TICK_SECONDS, fire the loans' timed events, build
the daily digests that are due, and relay the outbox. All three find what is due in
the database, so they keep their promises when Redis was down or emptied, and are
safe to run from any number of clocks at once: the loan clock's events are versioned
changes of the loan, a digest is one per person and day by a unique key.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime

from flask import Flask
from redis.exceptions import RedisError

from app.jobqueue import redis_connection
from app.lending.service import run_clock
from app.notifications.digest import build_digests
from app.notifications.outbox import relay

log = logging.getLogger(__name__)

TICK_LOCK = "mooch:tick-lock"


def tick(app: Flask, now: datetime | None = None) -> dict[str, int]:
    """One round of periodic work at `now` (naive UTC, default the present): run the
    loan clock, build the digests due, relay the outbox."""
    with app.app_context():
        fired = run_clock(now)
        digests = build_digests(now)
        relayed = relay(now)
    done = {**fired, "relayed": relayed}
    if digests:
        done["digests"] = digests
    return done


class Clock(threading.Thread):
    """Runs `tick` every WORKER_TICK_SECONDS while the worker lives.

    With several workers, a short Redis lock lets one of them tick per period; the
    work itself is idempotent, so the lock only saves effort. Without Redis, the
    clock still ticks: the loan clock and the relay's database side need no Redis.
    """

    def __init__(self, app: Flask) -> None:
        super().__init__(name="mooch-clock", daemon=True)
        self.app = app
        self.interval = float(app.config["WORKER_TICK_SECONDS"])
        self.stopping = threading.Event()
        self.token = uuid.uuid4().hex

    def _may_tick(self) -> bool:
        try:
            ttl = max(int(self.interval * 1000 * 0.9), 1)
            return bool(redis_connection(self.app).set(TICK_LOCK, self.token, nx=True, px=ttl))
        except RedisError:
            return True

    def run(self) -> None:
        while not self.stopping.is_set():
            if self._may_tick():
                try:
                    done = tick(self.app)
                    if any(done.values()):
                        log.info("clock: %s", done)
                except Exception:  # keep ticking: the next round may succeed
                    log.exception("clock: tick failed")
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()
