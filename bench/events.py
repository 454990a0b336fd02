"""`python -m bench.events`: row P1 of `python -m bench`, an event POST under gunicorn.

POST /api/v1/loans/<id>/events {"event": "accept"}: the lender accepts a request,
which mails the borrower (`loan_accepted`). gunicorn serves bench.event_wsgi (that is
wsgi:app, one sync worker, as the Procfile runs it; SQLite, an embedded Redis, rate
limits on); one client calls it one request at a time, on a fresh connection each, a
different loan each time. Three ways, taking turns in blocks of 10 within each round
(so a noisy moment on a shared machine lands on all three):

  outbox  the app as it is: the rows commit with the change, the jobs are enqueued
          after the commit (no worker runs meanwhile: the jobs wait in Redis);
  none    the same event with no notification at all;
  inline  the mail sent inside the request to an SMTP server that takes 50 ms per
          message (fewer calls: each takes that long).

Each round gives each way's p50 and p99; the figures are min, median and max over
the rounds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select
from werkzeug.security import generate_password_hash

from app import create_app
from app.extensions import db
from app.models import Loan, User
from bench import emit, log
from bench.throughput import ROOT, CountingCatcher
from devtools.redis_server import RedisServer
from tests.processes import free_port

PASSWORD = "bench password, long enough"
BORROWERS = 20
WAYS = ("outbox", "none", "inline")
SLOW_SMTP = 0.05


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="rounds (5)")
    parser.add_argument(
        "--blocks", type=int, default=20, help="blocks of 10 outbox + 10 none per round (20)"
    )
    parser.add_argument(
        "--inline-every", type=int, default=2, help="one inline call every this many blocks (2)"
    )
    parser.add_argument("--json", metavar="PATH", help="write the figures here")
    return parser.parse_args(argv)


def wait_for(condition, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = condition()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def request(port: int, method: str, path: str, body: dict | None, headers: dict):
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = json.dumps(body) if body is not None else None
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        return response.status, (time.perf_counter() - started) * 1000, payload
    finally:
        connection.close()


def seed(url: str, loans: int) -> None:
    """A lender with `loans` requests to answer, from BORROWERS people."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    password_hash = generate_password_hash(PASSWORD)
    with app.app_context():
        people = [
            {"name": "Lena" if n == 0 else f"Borrower {n}",
             "email": "lena@example.com" if n == 0 else f"borrower{n}@example.com",
             "password_hash": password_hash, "state": "active", "is_admin": False,
             "version": 1}
            for n in range(BORROWERS + 1)
        ]  # fmt: skip
        db.session.execute(insert(User), people)
        ids = list(db.session.scalars(select(User.id).order_by(User.id)))
        lender, borrowers = ids[0], ids[1:]
        rows = [
            {"item": "ladder", "message": None, "lender_id": lender,
             "borrower_id": borrowers[n % BORROWERS], "initiator_id": borrowers[n % BORROWERS],
             "counterparty_answered": False, "due_date": None, "state": "requested",
             "version": 1}
            for n in range(loans)
        ]  # fmt: skip
        db.session.execute(insert(Loan), rows)
        db.session.commit()
        db.engine.dispose()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(int(len(ordered) * q) - 1, 0)]


def spread(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def measure(args: argparse.Namespace, log) -> dict:
    per_round = args.blocks * 20 + -(-args.blocks // args.inline_every)
    warm = 10
    loans = args.rounds * per_round + warm * len(WAYS)
    with tempfile.TemporaryDirectory(prefix="mooch-bench-") as tmp:
        directory = Path(tmp)
        redis_server = RedisServer(directory=directory / "redis").start()
        catcher = CountingCatcher()
        catcher.delay = SLOW_SMTP
        catcher.start()
        url = f"sqlite:///{directory / 'mooch.db'}"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": redis_server.url,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(catcher.port),
            "SECRET_KEY": "bench-secret",
            "BASE_URL": "https://mooch.test",
        }
        python = sys.executable
        subprocess.run(
            [python, "-m", "flask", "--app", "app", "db", "upgrade"],
            cwd=ROOT, env=env, check=True, capture_output=True,
        )  # fmt: skip
        seed(url, loans)
        port = free_port()
        with open(directory / "gunicorn.log", "wb") as out:
            web = subprocess.Popen(
                [python, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                 "bench.event_wsgi:app"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            base = {"Content-Type": "application/json"}
            wait_for(lambda: request(port, "GET", "/healthz", None, {})[0] == 200, "gunicorn")
            status, _, payload = request(
                port, "POST", "/api/v1/auth/token",
                {"email": "lena@example.com", "password": PASSWORD}, base,
            )  # fmt: skip
            if status != 200:
                raise RuntimeError(f"token: {status} {payload[:200]!r}")
            auth = {**base, "Authorization": f"Bearer {json.loads(payload)['token']}"}
            loan_ids = iter(range(1, loans + 1))

            def fire(way: str) -> float:
                headers = auth if way == "outbox" else {**auth, "X-Bench-Mail": way}
                path = f"/api/v1/loans/{next(loan_ids)}/events"
                status, ms, payload = request(port, "POST", path, {"event": "accept"}, headers)
                if status != 200:
                    raise RuntimeError(f"{way}: {status} {payload[:300]!r}")
                return ms

            for _ in range(warm):
                for way in WAYS:
                    fire(way)
            rounds = []
            for r in range(args.rounds):
                times: dict[str, list[float]] = {way: [] for way in WAYS}
                for block in range(args.blocks):
                    for way in ("outbox", "none"):
                        times[way] += [fire(way) for _ in range(10)]
                    if block % args.inline_every == 0:
                        times["inline"].append(fire("inline"))
                rounds.append(
                    {way: {"p50": statistics.median(t), "p99": percentile(t, 0.99), "calls": len(t)}
                     for way, t in times.items()}
                )  # fmt: skip
                log(f"P1 round {r + 1}/{args.rounds}: " + ", ".join(
                    f"{w} p50 {v['p50']:.1f} p99 {v['p99']:.1f}" for w, v in rounds[-1].items()
                ))  # fmt: skip
            inline_sent = len(catcher.caught)
        finally:
            web.terminate()
            web.wait(timeout=30)
            catcher.stop()
            redis_server.close()
    expected_inline = warm + sum(r["inline"]["calls"] for r in rounds)
    if inline_sent != expected_inline:
        raise RuntimeError(f"inline: {inline_sent} mails caught, {expected_inline} expected")
    return {
        "rounds": rounds,
        "calls_per_round": {way: rounds[0][way]["calls"] for way in WAYS},
        **{way: {q: spread([r[way][q] for r in rounds]) for q in ("p50", "p99")} for way in WAYS},
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    return emit(measure(args, log), args.json)


if __name__ == "__main__":
    sys.exit(main())
