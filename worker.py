"""Mooch's worker: `python worker.py` delivers mail; `python worker.py status` reports.

It creates the app once, then runs RQ jobs in this process inside that app's
context, with one SMTP connection kept open, and a clock thread that relays the
outbox and fires the loans' timed events.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from redis.exceptions import RedisError
from rq import Worker

from app import create_app
from app.notifications.queue import mail_queue, redis_connection
from app.notifications.worker import Clock, build_worker

log = logging.getLogger("worker")


def wait_for_redis(app, stopping: threading.Event) -> bool:
    """Block until Redis answers (True) or a stop is requested (False)."""
    delay = 0.5
    while not stopping.is_set():
        try:
            redis_connection(app).ping()
            return True
        except RedisError as exc:
            log.warning("waiting for Redis (%s); next try in %.1fs", exc, delay)
            stopping.wait(delay)
            delay = min(delay * 2, 5.0)
    return False


def run(args: argparse.Namespace) -> int:
    """Work until told to stop. RQ's worker quits when Redis goes away; this loop waits
    for Redis to come back and starts a fresh worker, so a Redis restart never needs a
    worker restart. Committed mail is safe meanwhile: it is in the database."""
    app = create_app()
    stopping = threading.Event()
    clock = None if args.no_clock else Clock(app)
    if clock:
        clock.start()
    try:
        while not stopping.is_set():
            # RQ installs its own handlers while it works; between runs, these apply.
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda signum, frame: stopping.set())
            if not wait_for_redis(app, stopping):
                break
            worker = build_worker(app, queues=args.queues or None)
            try:
                worker.work(burst=args.burst, logging_level=args.log_level)
            except RedisError as exc:
                log.warning("worker lost Redis: %s", exc)
            if worker.stop_requested:
                break
            if args.burst and _redis_answers(app):
                break  # the queue is drained
    finally:
        if clock:
            clock.stop()
    return 0


def _redis_answers(app) -> bool:
    try:
        return bool(redis_connection(app).ping())
    except RedisError:
        return False


def status(args: argparse.Namespace) -> int:
    app = create_app()
    try:
        workers = Worker.all(connection=redis_connection(app))
        depth = mail_queue(app).count
    except RedisError as exc:
        print(f"redis unreachable: {exc}")
        return 2
    for w in workers:
        print(f"{w.name} {w.hostname} pid={w.pid} state={w.get_state()}")
    print(f"workers: {len(workers)}  queue {app.config['RQ_QUEUE']}: {depth}")
    return 0 if workers else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="worker.py", description=__doc__)
    parser.add_argument("command", nargs="?", default="run", choices=["run", "status"])
    parser.add_argument("--burst", action="store_true", help="quit when the queues are empty")
    parser.add_argument("--queue", dest="queues", action="append", help="queue to listen on")
    parser.add_argument("--no-clock", action="store_true", help="do not run the periodic clock")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return run(args) if args.command == "run" else status(args)


if __name__ == "__main__":
    sys.exit(main())
