"""Mooch's worker: `python worker.py` delivers mail; `python worker.py status` reports.

One worker process creates the app once, then runs RQ jobs in this process inside
that app's context, --concurrency of them at a time, each thread with its own SMTP
connection kept open, and a clock thread that
relays the outbox and fires the loans' timed events. With --processes N (N > 1) this
process becomes a supervisor of N such processes and replaces each one that exits.

Every option has an environment variable (shown in brackets); the option wins.

A worker runs without docstrings and asserts, as `python -OO` runs code: started any
other way, it starts itself again so, in the same process. Unless PYTHONOPTIMIZE is
set, which is then the choice.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

# Only the standard library at module level: with --processes N this process is the
# supervisor, which never builds the app and should stay small (see bench.production).

log = logging.getLogger("worker")

# A worker that cannot even start under its limits exits with this (EX_CONFIG), which
# its supervisor or process manager counts as a failure, not as a clean recycle.
EXIT_CONFIG = 78


def wait_for_redis(app, stopping: threading.Event, once: bool = False) -> bool:
    """Block until Redis answers (True) or a stop is requested (False); with `once`,
    ask a single time."""
    from redis.exceptions import RedisError

    from app.jobqueue import redis_connection

    delay = 0.5
    while not stopping.is_set():
        try:
            redis_connection(app).ping()
            return True
        except RedisError as exc:
            if once:
                return False
            log.warning("waiting for Redis (%s); next try in %.1fs", exc, delay)
            stopping.wait(delay)
            delay = min(delay * 2, 5.0)
    return False


def watch_supervisor(stopping: threading.Event) -> None:
    """Under a supervisor: if it disappears (killed with SIGKILL), stop like on SIGTERM
    rather than live on unwatched."""
    supervisor = os.environ.get("MOOCH_SUPERVISOR_PID")
    if not supervisor or not supervisor.isdigit():
        return

    def watch() -> None:
        while not stopping.wait(1.0):
            if os.getppid() != int(supervisor):
                log.warning("supervisor pid=%s is gone; stopping", supervisor)
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="mooch-parent-watch", daemon=True).start()


def start_metrics(port: int) -> None:
    """--metrics-port: a lone worker serves its own metrics; a supervised one counts
    into its supervisor's directory, which the supervisor serves."""
    from app import metrics

    if os.environ.get("MOOCH_SUPERVISOR_PID"):
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            metrics.enable()
    elif port:
        metrics.enable()
        metrics.serve_worker(port)


def work(args: argparse.Namespace) -> int:
    """One worker process, until a signal, a limit, or (burst) an empty queue.

    RQ's worker quits when Redis goes away; this loop waits for Redis to come back and
    starts a fresh one, so a Redis restart never needs a worker restart. Committed mail
    is safe meanwhile: it is in the database."""
    from redis.exceptions import RedisError

    from app import create_worker_app
    from app.worker.clock import Clock
    from app.worker.memory import limit_malloc_arenas
    from app.worker.runner import Limits, build_worker, rss_mb

    limit_malloc_arenas()  # before any thread: the sending threads share two
    app = create_worker_app()
    limits = Limits(max_jobs=args.max_jobs, max_memory_mb=args.max_memory_mb)
    if args.max_memory_mb and rss_mb() > args.max_memory_mb:
        log.error(
            "worker pid=%d uses %.0f MB before its first job, over the memory cap of %.0f MB"
            " (--max-memory-mb / WORKER_MAX_MEMORY_MB); not starting",
            os.getpid(),
            rss_mb(),
            args.max_memory_mb,
        )
        return EXIT_CONFIG
    start_metrics(args.metrics_port)
    stopping = threading.Event()
    watch_supervisor(stopping)
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
            worker = build_worker(
                app,
                queues=args.queues,
                limits=limits,
                grace=args.grace,
                concurrency=args.concurrency,
                stopping=stopping,
            )
            try:
                worker.work(burst=args.burst, logging_level=args.log_level)
            except RedisError as exc:
                log.warning("worker lost Redis: %s", exc)
            if limits.reached:
                log.info("worker pid=%d: %s; exiting 0 to be replaced", os.getpid(), limits.reached)
                break
            if worker.stop_requested:
                break
            if args.burst and wait_for_redis(app, stopping, once=True):
                break  # the queue is drained
    finally:
        stopping.set()
        if clock:
            clock.stop()
    return 0


def without_docstrings() -> None:
    """Start this same command again under `python -OO`, by exec: the process (and its
    pid, which systemd, honcho or a supervisor watch) stays; it only loses what a
    worker never reads, docstrings and asserts, which cost it about 7 MiB (the code it
    loads is that much smaller). Nothing is done when the interpreter already runs so,
    or when PYTHONOPTIMIZE says how it should. The saving needs the -OO bytecode
    (`*.opt-2.pyc`) on disk: `make venv` writes it for the venv, and Python writes what
    is missing wherever it may, at the first start."""
    if sys.flags.optimize >= 2 or os.environ.get("PYTHONOPTIMIZE") or not sys.executable:
        return
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execv(sys.executable, [sys.executable, "-OO", *sys.orig_argv[1:]])


def interpreter_options() -> list[str]:
    """The optimization this interpreter runs with, for the workers it starts."""
    return ["-" + "O" * sys.flags.optimize] if sys.flags.optimize else []


def supervise(args: argparse.Namespace) -> int:
    from app.worker.supervisor import Supervisor

    command = [
        sys.executable,
        *interpreter_options(),
        str(Path(__file__).resolve()),
        "run",
        "--processes",
        "1",
    ]
    for queue in args.queues or []:
        command += ["--queue", queue]
    command += [
        "--max-memory-mb",
        str(args.max_memory_mb),
        "--max-jobs",
        str(args.max_jobs),
        "--grace",
        str(args.grace),
        "--concurrency",
        str(args.concurrency),
        "--log-level",
        args.log_level,
    ]
    if args.burst:
        command.append("--burst")
    if args.no_clock:
        command.append("--no-clock")
    on_exit = None
    if args.metrics_port:
        # The workers count into files of a directory of this supervisor's own (never a
        # gunicorn's on the same machine); the supervisor serves them, summed.
        import tempfile

        from app import metrics

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mooch-worker-metrics-")
        metrics.serve_worker(args.metrics_port)
        on_exit = metrics.process_gone
    supervisor = Supervisor(
        command,
        args.processes,
        on_exit=on_exit,
        burst=args.burst,
        grace=args.grace,
        restart_delay=args.restart_delay,
        flap_limit=args.flap_limit,
        flap_window=args.flap_window,
    )
    supervisor.install_signal_handlers()
    return supervisor.run()


def status(args: argparse.Namespace) -> int:
    from app import create_worker_app
    from app.worker.status import status_main

    return status_main(create_worker_app(), as_json=args.json, max_pending_age=args.max_pending_age)


# -- the command line -----------------------------------------------------------------


def _at_least(minimum: float, kind: type = int):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {text}")
        return value

    return parse


def run_parser(config) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="worker.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="`python worker.py status --help`: the status report and its exit codes.",
    )
    parser.add_argument("run", nargs="?", choices=["run"], help="work (the default)")
    queues = [q.strip() for q in config.WORKER_QUEUES.split(",") if q.strip()]
    parser.add_argument(
        "-q",
        "--queue",
        dest="queues",
        action="append",
        help=f"a queue to take jobs from; repeat for several [WORKER_QUEUES, comma-separated;"
        f" default: {', '.join(queues) or config.RQ_QUEUE}]",
    )
    parser.set_defaults(default_queues=queues)
    parser.add_argument(
        "-n",
        "--processes",
        type=_at_least(1),
        default=config.WORKER_PROCESSES,
        help="worker processes; more than 1 runs them under a supervisor that replaces"
        " each one that exits [WORKER_PROCESSES; default: %(default)s]",
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        type=_at_least(1),
        default=config.WORKER_CONCURRENCY,
        help="mails each worker process sends at once, each on its own SMTP connection"
        " [WORKER_CONCURRENCY; default: %(default)s]",
    )
    parser.add_argument(
        "--burst",
        action="store_true",
        help="deliver what is queued, then exit 0 instead of waiting for more",
    )
    parser.add_argument(
        "--max-memory-mb",
        type=_at_least(0, float),
        default=config.WORKER_MAX_MEMORY_MB,
        help="once a worker's resident memory (MiB) is above this after a job, it exits 0"
        " to be replaced; 0 = no cap [WORKER_MAX_MEMORY_MB; default: %(default)s]",
    )
    parser.add_argument(
        "--max-jobs",
        type=_at_least(0),
        default=config.WORKER_MAX_JOBS,
        help="a worker exits 0 to be replaced after this many jobs; 0 = no cap"
        " [WORKER_MAX_JOBS; default: %(default)s]",
    )
    parser.add_argument(
        "--grace",
        type=_at_least(0, float),
        default=config.WORKER_SHUTDOWN_GRACE,
        help="on SIGTERM, seconds to finish the delivery in hand before giving it back to"
        " the queue; then exit 0 [WORKER_SHUTDOWN_GRACE; default: %(default)s]",
    )
    parser.add_argument(
        "--restart-delay",
        type=_at_least(0, float),
        default=config.WORKER_RESTART_DELAY,
        help="supervisor: first delay before restarting a worker that died; doubles each"
        " time, up to 60 s [WORKER_RESTART_DELAY; default: %(default)s]",
    )
    parser.add_argument(
        "--flap-limit",
        type=_at_least(1),
        default=config.WORKER_FLAP_LIMIT,
        help="supervisor: give up on a worker that died this many times within"
        " --flap-window [WORKER_FLAP_LIMIT; default: %(default)s]",
    )
    parser.add_argument(
        "--flap-window",
        type=_at_least(1, float),
        default=config.WORKER_FLAP_WINDOW,
        help="supervisor: the window for --flap-limit, in seconds"
        " [WORKER_FLAP_WINDOW; default: %(default)s]",
    )
    parser.add_argument(
        "--metrics-port",
        type=_at_least(0),
        default=config.WORKER_METRICS_PORT,
        help="serve Prometheus metrics on this port (with several processes, the"
        " supervisor serves all of theirs); 0 = none [WORKER_METRICS_PORT; default:"
        " %(default)s]",
    )
    parser.add_argument(
        "--no-clock",
        action="store_true",
        help="do not run the clock thread (outbox relay, loan timers) in this worker",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("LOG_LEVEL", "INFO").upper(),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="[LOG_LEVEL; default: %(default)s]; LOG_FORMAT=json logs one JSON object a line",
    )
    return parser


def status_parser(config) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="worker.py status",
        description="Every live worker on every machine (from Redis), the queues, and the"
        " notifications by status. Exit status: 0 at least one worker is alive and nothing"
        " pending is older than --max-pending-age; 1 otherwise; 2 Redis or the database"
        " cannot be reached.",
    )
    parser.add_argument("status", choices=["status"])
    parser.add_argument("--json", action="store_true", help="one JSON document, for machines")
    parser.add_argument(
        "--max-pending-age",
        type=_at_least(0, float),
        default=None,
        help="seconds a notification may stay pending before the status is a problem"
        f" [WORKER_STATUS_MAX_PENDING_AGE; default: "
        f"{config.WORKER_STATUS_MAX_PENDING_AGE}]",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    from app.logs import configure_logging
    from config import Config

    argv_from_command_line = argv is None
    argv = sys.argv[1:] if argv is None else argv
    try:
        config = Config()
    except ValueError as exc:
        print(f"worker.py: bad setting in the environment: {exc}", file=sys.stderr)
        return 2
    if argv[:1] == ["status"]:
        args = status_parser(config).parse_args(argv)
        configure_logging("WARNING")  # the report is the output
        return status(args)
    args = run_parser(config).parse_args(argv)
    if argv_from_command_line:
        without_docstrings()
    args.queues = args.queues or args.default_queues or None
    configure_logging(args.log_level)
    return supervise(args) if args.processes > 1 else work(args)


if __name__ == "__main__":
    sys.exit(main())
