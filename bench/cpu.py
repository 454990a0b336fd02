"""`python -m bench.cpu`: CPU time per mail, row P6 of `python -m bench`.

Three figures, each the process CPU time (time.process_time) divided by the mails,
measured in this process while the SMTP sink runs in another (so its parsing is not
counted), on SQLite and an embedded Redis:

- ours: `app.notifications.delivery.deliver` alone, row after row: reading the row,
  building the message, the claim, the SMTP conversation and recording it sent;
- the worker: our RQ worker (`--concurrency 1`, burst) on the same number of jobs,
  ours plus RQ's bookkeeping;
- RQ's own: the same worker class on no-op jobs (bench.noop), enqueued like ours.

Each figure is the median (min-max) of several runs of `--mails` mails.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import emit, log


def _sink(ready) -> None:
    from bench.throughput import CountingCatcher

    with CountingCatcher() as catcher:
        ready.put(catcher.port)
        time.sleep(24 * 3600)


def _spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure(mails: int, runs: int) -> dict:
    from rq import Queue
    from rq.serializers import JSONSerializer

    from app import create_worker_app
    from app.extensions import db
    from app.jobqueue import redis_connection
    from app.models import User
    from app.notifications import outbox
    from app.notifications.delivery import deliver
    from app.worker.runner import build_worker
    from devtools.redis_server import RedisServer
    from tests.support import migrate_to_head

    ready = multiprocessing.Queue()
    sink = multiprocessing.Process(target=_sink, args=(ready,), daemon=True)
    sink.start()
    port = ready.get(timeout=30)
    directory = Path(tempfile.mkdtemp(prefix="mooch-bench-cpu-"))
    url = f"sqlite:///{directory / 'cpu.db'}"
    migrate_to_head(url)
    logging.getLogger().setLevel(logging.WARNING)
    with RedisServer(directory=directory / "redis") as redis_server:
        app = create_worker_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "REDIS_URL": redis_server.url,
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": port,
                "MAIL_SUPPRESS_SEND": False,
                "MAIL_DEFAULT_SENDER": "Mooch <mooch@bench.test>",
                "BASE_URL": "https://bench.test",
            }
        )
        with app.app_context():
            user = User(email="bench@example.com", name="Bench", state="active")
            db.session.add(user)
            db.session.commit()
            user_id = user.id

            def fresh_rows(n: int) -> list[int]:
                who = db.session.get(User, user_id)
                rows = [outbox.record("welcome", who) for _ in range(n)]
                db.session.commit()  # enqueues one job each
                ids = [row.id for row in rows]
                db.session.remove()
                return ids

            def worker_run(queue_jobs) -> float:
                redis_connection(app).flushdb()
                queue_jobs()
                worker = build_worker(app, concurrency=1)
                started = time.process_time()
                worker.work(burst=True, logging_level="WARNING")
                return (time.process_time() - started) / mails * 1000

            ours, whole, rq_only = [], [], []
            # Warm: the SMTP connection, compiled queries and templates, the allocator.
            for nid in fresh_rows(100):
                deliver(nid)
            for run in range(runs):
                ids = fresh_rows(mails)
                redis_connection(app).flushdb()
                started = time.process_time()
                for nid in ids:
                    deliver(nid)
                ours.append((time.process_time() - started) / mails * 1000)

                whole.append(worker_run(lambda: fresh_rows(mails)))

                queue = Queue(
                    app.config["RQ_QUEUE"],
                    connection=redis_connection(app),
                    serializer=JSONSerializer,
                )
                rq_only.append(
                    worker_run(
                        lambda queue=queue: queue.enqueue_many(
                            [
                                Queue.prepare_data("bench.noop.noop", result_ttl=0)
                                for _ in range(mails)
                            ]
                        )
                    )
                )
                log(f"cpu run {run + 1}: ours {ours[-1]:.2f}, worker {whole[-1]:.2f}, "
                    f"rq no-op {rq_only[-1]:.2f} ms/mail")  # fmt: skip
    sink.terminate()
    return {
        "mails": mails,
        "runs": runs,
        "ours_ms": _spread(ours),
        "worker_ms": _spread(whole),
        "rq_noop_ms": _spread(rq_only),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__)
    parser.add_argument("--mails", type=int, default=1000, help="mails per run (1000)")
    parser.add_argument("--runs", type=int, default=5, help="runs (5)")
    parser.add_argument("--json", metavar="PATH", help="write the figures here")
    args = parser.parse_args(argv)
    return emit(measure(args.mails, args.runs), args.json)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
