"""MAIL_RATE_LIMIT: at most that many messages a second to the mail provider, counted
in Redis so that every thread of every worker process shares one budget (SES allows
14 a second by default, Resend 2 to 5). Off (0) by default.

A send waits here after its row is claimed and before the SMTP conversation, so the
claim's lease covers the wait. The count is a moving window from the `limits`
library (the one Flask-Limiter uses), on the queue's Redis. If Redis cannot be
reached the mail goes without waiting: being late is worse than being briefly fast.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import TYPE_CHECKING

from flask import Flask
from redis.exceptions import RedisError

from app.jobqueue import redis_connection

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)

KEY = "mail"
LONGEST_WAIT = 0.25  # seconds between looks, so a shutdown is noticed


def item_for(rate: float) -> RateLimitItem:
    """A whole number a second, or a fraction as so many a minute (2.5/s = 150/min)."""
    # `limits` is imported only when a rate is set (it is off by default): a worker
    # that does not pace does not carry it (make bench's P5 counts idle memory).
    from limits import RateLimitItemPerMinute, RateLimitItemPerSecond

    if rate == int(rate):
        return RateLimitItemPerSecond(int(rate))
    return RateLimitItemPerMinute(max(math.floor(rate * 60), 1))


class Pace:
    def __init__(self, app: Flask) -> None:
        rate = float(app.config["MAIL_RATE_LIMIT"])
        self.item = item_for(rate) if rate > 0 else None
        self._limiter: MovingWindowRateLimiter | None = None
        if self.item is not None:
            from limits.storage import RedisStorage
            from limits.strategies import MovingWindowRateLimiter

            storage = RedisStorage(
                app.config["REDIS_URL"],
                connection_pool=redis_connection(app).connection_pool,
                key_prefix="mooch-pace",
            )
            self._limiter = MovingWindowRateLimiter(storage)
        self._warned_at = 0.0
        self._lock = threading.Lock()

    def wait(self, stopping: threading.Event | None = None) -> float:
        """Block until this send fits the budget; returns the seconds waited. Returns
        early (without a slot) if `stopping` is set: the caller checks it."""
        if self._limiter is None or self.item is None:
            return 0.0
        started = time.monotonic()
        while stopping is None or not stopping.is_set():
            try:
                if self._limiter.hit(self.item, KEY):
                    break
                reset = self._limiter.get_window_stats(self.item, KEY).reset_time
            except RedisError as exc:  # send rather than stall
                self._warn(exc)
                break
            time.sleep(min(max(reset - time.time(), 0.01), LONGEST_WAIT))
        return time.monotonic() - started

    def _warn(self, exc: Exception) -> None:
        with self._lock:
            if time.monotonic() - self._warned_at > 60:
                self._warned_at = time.monotonic()
                log.warning("MAIL_RATE_LIMIT not applied: Redis unreachable (%s)", exc)


def pace_for(app: Flask) -> Pace:
    pace = app.extensions.get("mooch_pace")
    if pace is None:
        pace = app.extensions["mooch_pace"] = Pace(app)
    return pace
