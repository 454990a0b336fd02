"""`python -m bench.pipeline`: the mail pipeline, rows P2 to P5 of `python -m bench`.

One embedded Redis, one SQLite database built by the migrations, one local SMTP sink
(bench.throughput.CountingCatcher: keeps the bytes, parses nothing; with a delay it
plays a server that takes 50 ms per message, serving connections concurrently). The
notifications are made once, the web's way (`create_loan`), and every run starts
from exactly its rows pending and one queued job each.

P2  N mails into the sink, `worker.py --processes 2` (default concurrency), against
    RQ's empty-job ceiling (two `rq worker -w rq.worker.SimpleWorker` processes running
    a no-op job enqueued like ours, same RQ, same Redis) and a stock `rq worker` (two
    forking processes) on a few of the same jobs, its rate scaled.
P3  the same N mails with the sink taking 50 ms per message, against --concurrency 1
    (the old serial worker) on fewer mails.
P4  a steady offered load at half of P2's measured rate: a separate process commits
    one notification at a time (an UPDATE making a row pending, COMMIT, then the app's
    own enqueue) and notes the time of each commit; the sink notes when it accepted
    each message; the latency is the difference, joined by Message-ID. It runs on
    workers that have sent a first batch (warm, as a long-running worker is).
P5  the resident memory of the two workers: idle, after the first mails (warm), and
    after many more (the same rows sent again and again), on the same processes.
P7  P4's measure at a light load (10 mails/s) against a sink playing a server 20 ms
    away (every reply 20 ms late), on fresh workers: ours (PIPELINING, two round
    trips a mail) against the same sink without PIPELINING (four).

Rates are steady-state: mails / (time the last one was done - time the first job was
taken), so the start-up of a process (ours builds the app: about a second) counts for
none of them. Every worker runs with --max-jobs 0 --max-memory-mb 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
from rq import Queue, Worker
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select, update

from app.extensions import db
from app.models import Notification
from app.notifications.compose import message_id
from app.notifications.outbox import enqueue
from bench import emit, log
from bench.throughput import MESSAGE_ID, ROOT, Bench

MIB = 1024 * 1024
POLL = 0.02
NOOP_QUEUE = "bench-noop"
SLOW_SMTP = 0.05
DISTANT_SMTP = 0.02  # P7: every reply this late, as from a provider 20 ms away
LIGHT_RATE = 10.0  # P7: mails a second
STALL = 20.0  # seconds without progress after every mail arrived


def ours(processes: int = 2, concurrency: int | None = None, burst: bool = True) -> list[str]:
    command = [sys.executable, "worker.py", "--processes", str(processes)]
    command += ["--max-jobs", "0", "--max-memory-mb", "0"]
    if concurrency is not None:
        command += ["--concurrency", str(concurrency)]
    return command + (["--burst"] if burst else [])


def stock_rq(redis_url: str, queue: str, worker_class: str | None = None) -> list[str]:
    command = [str(Path(sys.executable).with_name("rq")), "worker", "--burst"]
    command += ["--serializer", "rq.serializers.JSONSerializer", "--url", redis_url]
    if worker_class:
        command += ["--worker-class", worker_class]
    return [*command, queue]


@dataclass
class Drain:
    label: str
    command: str
    processes: int
    jobs: int
    rate: float  # jobs / (done - first job taken)
    wall: float  # from the processes' start until the last job was done
    peak_rss_mib: float  # the largest sum of the workers' RSS seen (not the supervisor)


def _workers(procs: list[psutil.Process], supervised: bool) -> list[psutil.Process]:
    found = []
    for proc in procs:
        try:
            children = proc.children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        found += children if supervised else [proc, *children]
    return found


def rss_mib(procs: list[psutil.Process]) -> float:
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total / MIB


class Pipeline:
    def __init__(self, bench: Bench, log: Callable[[str], None]) -> None:
        self.bench = bench
        self.log = log
        self.redis = bench.redis
        self.queue_key = bench.queue_key
        self.catcher = bench.catcher
        self.ids = bench.ids
        rows = db.session.scalars(select(Notification).where(Notification.id.in_(self.ids)))
        self.message_ids = {message_id(n): n.id for n in rows}
        db.session.rollback()
        self.left_claimed = 0  # rows whose mail arrived but never recorded sent

    # -- one drain: N queued jobs, some processes, until all are done ----------------

    def drain(
        self,
        label: str,
        commands: list[list[str]],
        jobs: int,
        queue_key: str,
        done: Callable[[], bool],
        supervised: bool,
        timeout: float = 600.0,
        fallback: Callable[[float], float | None] | None = None,
    ) -> Drain:
        self.log(f"{label}: {jobs} jobs: {' '.join(commands[0])} (x{len(commands)})")
        logfile = self.bench.dir / f"{label.replace(' ', '-')}.log"
        with open(logfile, "ab") as out:
            started = time.monotonic()
            popens = [
                subprocess.Popen(c, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
                for c in commands
            ]
        procs = [psutil.Process(p.pid) for p in popens]
        first = finished = None
        peak = 0.0
        try:
            while True:
                now = time.monotonic() - started
                if first is None and self.redis.llen(queue_key) < jobs:
                    first = now
                if done():
                    finished = time.monotonic() - started
                    break
                peak = max(peak, rss_mib(_workers(procs, supervised)))
                if all(p.poll() is not None for p in popens):
                    if not done() and fallback:
                        finished = fallback(started)
                    break
                if now > timeout:
                    raise RuntimeError(f"{label}: not done after {now:.0f}s")
                time.sleep(POLL)
            for p in popens:
                p.wait(timeout=60)
        finally:
            for p in popens:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        if finished is None or first is None:
            tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-15:])
            raise RuntimeError(
                f"{label}: exited before all {jobs} jobs were done ({self.bench._counts()} rows,"
                f" {len(self.catcher.caught)} mails caught)\n{tail}"
            )
        first = min(first, finished - POLL)
        return Drain(
            label, " ".join(commands[0]), len(commands), jobs, jobs / (finished - first),
            finished, peak,
        )  # fmt: skip

    def mails(self, label: str, commands: list[list[str]], count: int, supervised=True) -> Drain:
        """Deliver the first `count` notifications; check every one arrived once."""
        expected = self.bench._reset(self.ids[:count])

        def all_arrived(started: float) -> float | None:
            # The workers are gone and every mail arrived, yet some rows are not
            # recorded sent (see left_claimed): done when the last mail arrived.
            arrived = self.catcher.arrived_at
            return arrived[-1] - started if len(arrived) >= count else None

        result = self.drain(
            label,
            commands,
            count,
            self.queue_key,
            lambda: self.bench._unsent() == 0,
            supervised,
            fallback=all_arrived,
        )
        self.bench._verify(label, expected)
        if left := self.bench._unsent():
            self.log(f"{label}: {left} row(s) left claimed after their mail arrived")
            self.left_claimed += left
        self.log(f"{label}: {result.rate:.1f}/s, peak worker RSS {result.peak_rss_mib:.0f} MiB")
        return result

    def noop_ceiling(self, count: int) -> Drain:
        """RQ's own ceiling: `count` no-op jobs, enqueued the way ours are, drained by
        two non-forking stock RQ workers."""
        self.redis.flushdb()
        queue = Queue(NOOP_QUEUE, connection=self.redis, serializer=JSONSerializer)
        queue.enqueue_many(
            [
                Queue.prepare_data("bench.noop.noop", job_id=f"noop-{n}", result_ttl=0)
                for n in range(count)
            ]
        )
        started = StartedJobRegistry(NOOP_QUEUE, connection=self.redis)

        def done() -> bool:
            return self.redis.llen(queue.key) == 0 and started.count == 0

        command = stock_rq(self.bench.redis_server.url, NOOP_QUEUE, "rq.worker.SimpleWorker")
        result = self.drain("rq no-op ceiling", [command, command], count, queue.key, done, False)
        self.log(f"rq no-op ceiling: {result.rate:.1f}/s")
        return result

    # -- a long-running supervisor: P4 and P5 ----------------------------------------

    def start_workers(self) -> tuple[subprocess.Popen, list[psutil.Process]]:
        self.redis.flushdb()  # nothing queued, no stale worker keys
        self.catcher.clear()
        self._skip_all()
        log = open(self.bench.dir / "steady.log", "ab")  # noqa: SIM115 -- closed with the process
        proc = subprocess.Popen(ours(burst=False), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        proc.log = log
        supervisor = psutil.Process(proc.pid)
        deadline = time.monotonic() + 60
        while len(Worker.all_keys(connection=self.redis)) < 2:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the two workers did not start")
            time.sleep(0.1)
        time.sleep(3)  # both are waiting on Redis, their clocks have ticked once
        return proc, supervisor.children()

    def stop_workers(self, proc: subprocess.Popen) -> None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.log.close()

    def _skip_all(self) -> None:
        """Every row out of the workers' way: not pending, no job."""
        db.session.execute(
            update(Notification).where(Notification.id.in_(self.ids)).values(status="skipped")
        )
        db.session.commit()

    def steady_latency(self, count: int, rate: float) -> dict:
        """P4: `count` commits at `rate` a second, each followed by its enqueue."""
        ids = self.ids[:count]
        self._skip_all()
        self.catcher.clear()
        spec = self.bench.dir / "load.json"
        spec.write_text(json.dumps({"ids": ids, "rate": rate}))
        self.log(f"steady load: {count} commits at {rate:.0f}/s")
        subprocess.run(
            [sys.executable, "-m", "bench.load", str(spec)], cwd=ROOT, check=True, timeout=600
        )
        committed = {int(k): v for k, v in json.loads(spec.read_text())["committed"].items()}
        deadline = time.monotonic() + 120
        while len(self.catcher.caught) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"steady load: {len(self.catcher.caught)}/{count} arrived")
            time.sleep(0.1)
        time.sleep(1.0)
        self.left_claimed += self.bench._unsent()  # see resend()
        latencies = []
        for caught, at in zip(self.catcher.caught, self.catcher.arrived_at, strict=True):
            found = MESSAGE_ID.search(caught.raw)
            nid = self.message_ids.get(found.group(1).decode()) if found else None
            latencies.append((at - committed[nid]) * 1000)
        if len(latencies) != count:
            raise RuntimeError(f"steady load: {len(latencies)} latencies for {count} mails")
        latencies.sort()
        spec_out = json.loads(spec.read_text())
        return {
            "mails": count,
            "offered_per_second": rate,
            "achieved_offer_per_second": spec_out["achieved_rate"],
            "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[max(int(len(latencies) * 0.99) - 1, 0)],
            "max_ms": latencies[-1],
        }

    def resend(self, count: int) -> None:
        """The first `count` rows sent again, to the running workers."""
        ids = self.ids[:count]
        db.session.execute(
            update(Notification)
            .where(Notification.id.in_(ids))
            .values(status="pending", attempts=0, not_before=None, sent_at=None, last_error=None)
        )
        db.session.commit()
        self.catcher.clear()
        if not enqueue(ids):
            raise RuntimeError("could not enqueue")
        deadline = time.monotonic() + 600
        last, since = None, time.monotonic()
        while unsent := self.bench._unsent():
            if unsent != last:
                last, since = unsent, time.monotonic()
            if len(self.catcher.caught) >= count and time.monotonic() - since > STALL:
                # Every mail arrived, yet rows are still claimed: the worker failed to
                # record them sent (their lease would make the relay send them again).
                self.log(f"resend: {unsent} row(s) left claimed after their mail arrived")
                self.left_claimed += unsent
                break
            if time.monotonic() > deadline:
                raise RuntimeError("resend: not all sent after 600 s")
            time.sleep(0.05)
        if len(self.catcher.caught) != count:
            raise RuntimeError(f"resend: {len(self.catcher.caught)} caught, not {count}")


@dataclass
class Plan:
    quick: bool
    mails: int  # P2, P3
    repeats: int  # P2, P3: runs of ours and of the ceiling
    rq_mails: int  # stock rq, its rate scaled
    serial_mails: int  # P3 at --concurrency 1
    steady_mails: int  # P4
    memory_mails: int  # P5, in all
    distant_mails: int  # P7, each way
    notes: list[str] = field(default_factory=list)


def plan(quick: bool) -> Plan:
    if quick:
        return Plan(True, 600, 2, 10, 100, 500, 4000, 100)
    return Plan(False, 2000, 3, 40, 400, 2000, 40000, 300)


def spread(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def run(p: Plan, log: Callable[[str], None]) -> dict:
    figures: dict = {"plan": asdict(p)}
    with Bench(p.mails, 1200.0, False, log) as bench:
        try:
            return _run(p, log, bench, figures)
        finally:
            logs = ROOT / "test-artifacts" / "bench" / "pipeline-workers"
            logs.mkdir(parents=True, exist_ok=True)
            for worker_log in bench.dir.glob("*.log"):
                shutil.copy(worker_log, logs / worker_log.name)


def _run(p: Plan, log: Callable[[str], None], bench: Bench, figures: dict) -> dict:
    pipe = Pipeline(bench, log)
    redis_url = bench.redis_server.url
    # P2: our worker and the ceiling, taking turns; then stock rq.
    p2, ceiling = [], []
    for _ in range(p.repeats):
        p2.append(pipe.mails("ours", [ours()], p.mails))
        ceiling.append(pipe.noop_ceiling(p.mails))
    rq_cmd = stock_rq(redis_url, bench.app.config["RQ_QUEUE"])
    rq = pipe.mails("stock rq", [rq_cmd, rq_cmd], p.rq_mails, supervised=False)
    figures["P2"] = {
        "ours": [asdict(d) for d in p2],
        "ceiling": [asdict(d) for d in ceiling],
        "stock_rq": asdict(rq),
        "ours_per_second": spread([d.rate for d in p2]),
        "ceiling_per_second": spread([d.rate for d in ceiling]),
    }
    # P3: the sink takes 50 ms per message.
    bench.catcher.delay = SLOW_SMTP
    p3 = [pipe.mails("ours, 50 ms SMTP", [ours()], p.mails) for _ in range(p.repeats)]
    serial = pipe.mails("concurrency 1, 50 ms SMTP", [ours(concurrency=1)], p.serial_mails)
    # How the rate grows with processes on this machine (issue 13: what autoscaling
    # starts from): 1 and 4 processes beside the 2 above, one run each.
    scaling = {
        n: pipe.mails(f"{n} processes, 50 ms SMTP", [ours(processes=n)], p.mails) for n in (1, 4)
    }
    bench.catcher.delay = 0.0
    figures["P3"] = {
        "ours": [asdict(d) for d in p3],
        "serial": asdict(serial),
        "ours_per_second": spread([d.rate for d in p3]),
        "peak_worker_rss_mib": max(d.peak_rss_mib for d in p3),
        "by_processes": {str(n): asdict(d) for n, d in scaling.items()},
    }
    # P4 and P5: one supervisor, kept running.
    proc, workers = pipe.start_workers()
    try:
        idle = [rss_mib([w]) for w in workers]
        supervisor_rss = rss_mib([psutil.Process(proc.pid)])
        log(f"idle: workers {idle} MiB, supervisor {supervisor_rss:.1f} MiB")
        # The first mails warm the workers up, as hours of running would have: every
        # send thread has its SMTP connection and every template is compiled. P4 is
        # the steady state after that (its first mails would otherwise pay each
        # thread's connection, ~100 ms at p99 on this machine).
        pipe.resend(p.mails)
        sent = p.mails
        warm = [rss_mib([w]) for w in workers]
        warm_sent = sent
        rate = statistics.median([d.rate for d in p2]) / 2
        figures["P4"] = pipe.steady_latency(p.steady_mails, rate)
        log(f"steady: {figures['P4']}")
        sent += p.steady_mails
        while sent < p.memory_mails:
            pipe.resend(p.mails)
            sent += p.mails
            log(f"memory: {sent}/{p.memory_mails} mails, {[rss_mib([w]) for w in workers]}")
        end = [rss_mib([w]) for w in workers]
        if any(not w.is_running() for w in workers):
            raise RuntimeError("a worker was replaced during the memory run")
    finally:
        pipe.stop_workers(proc)
    figures["P5"] = {
        "idle_mib": idle,
        "supervisor_mib": supervisor_rss,
        "warm_mib": warm,
        "warm_after_mails": warm_sent,
        "end_mib": end,
        "mails": sent,
        "growth_mib": [e - w for e, w in zip(end, warm, strict=True)],
        "growth_from_idle_mib": [e - i for e, i in zip(end, idle, strict=True)],
    }
    # P7: a light load against a server DISTANT_SMTP away (every reply that late), on
    # fresh workers, against the same sink without PIPELINING.
    figures["P7"] = {"latency_ms": DISTANT_SMTP * 1000, "per_second": LIGHT_RATE}
    bench.catcher.latency = DISTANT_SMTP
    try:
        for label, pipelining in (("without_pipelining", False), ("ours", True)):
            bench.catcher.pipelining = pipelining
            proc, _ = pipe.start_workers()
            try:
                figures["P7"][label] = pipe.steady_latency(p.distant_mails, LIGHT_RATE)
            finally:
                pipe.stop_workers(proc)
            log(f"distant server, pipelining {pipelining}: {figures['P7'][label]}")
    finally:
        bench.catcher.latency = 0.0
        bench.catcher.pipelining = True
    figures["rows_left_claimed"] = pipe.left_claimed
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer mails")
    parser.add_argument("--json", metavar="PATH", help="write the figures here")
    args = parser.parse_args(argv)
    return emit(run(plan(args.quick), log), args.json)


if __name__ == "__main__":
    sys.exit(main())
