"""`python -m bench.production`: the costs of running in production, as tables.

1. GET /healthz served by gunicorn (`wsgi:app`, as the Procfile runs it), called N
   times one after another on a fresh connection each (a load balancer's way), with
   Redis up and with Redis stopped: latency percentiles and calls per second.
2. The worker's resident memory: `python worker.py --processes 2` (the supervisor and
   its two workers) once idle, and one worker after delivering M emails, against the
   default cap WORKER_MAX_MEMORY_MB.

SQLite and an embedded Redis in a temporary directory, mail into a local catcher.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench import text_table
from bench.throughput import ROOT, CountingCatcher
from devtools.redis_server import RedisServer
from tests.processes import free_port

MIB = 1024 * 1024


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.production", description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="healthz calls per case (2000)")
    parser.add_argument("--emails", type=int, default=500, help="emails for the RSS row (500)")
    return parser.parse_args(argv)


def wait_for(condition, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def call(port: int) -> tuple[int, float]:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        return response.status, (time.perf_counter() - started) * 1000
    finally:
        connection.close()


def healthz_case(port: int, calls: int) -> dict:
    for _ in range(20):  # warm: the pool's connections, imports
        call(port)
    statuses, times = [], []
    started = time.perf_counter()
    for _ in range(calls):
        status, ms = call(port)
        statuses.append(status)
        times.append(ms)
    elapsed = time.perf_counter() - started
    times.sort()
    return {
        "status": sorted(set(statuses)),
        "p50": statistics.median(times),
        "p99": times[int(len(times) * 0.99) - 1],
        "max": times[-1],
        "per_second": calls / elapsed,
    }


def rss(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / MIB


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    with tempfile.TemporaryDirectory(prefix="mooch-bench-") as tmp:
        directory = Path(tmp)
        redis_server = RedisServer(directory=directory / "redis").start()
        catcher = CountingCatcher().start()
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{directory / 'mooch.db'}",
            "REDIS_URL": redis_server.url,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(catcher.port),
            "SECRET_KEY": "bench-secret",
            "PYTHONUNBUFFERED": "1",
        }
        python = sys.executable
        subprocess.run(
            [python, "-m", "flask", "--app", "app", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        health_rows = healthz_rows(python, env, redis_server, args.calls, directory)
        redis_server.start()
        memory_rows = memory_table(python, env, args.emails, catcher, directory)
        catcher.stop()
        redis_server.close()
    print(f"GET /healthz, gunicorn wsgi:app (1 sync worker), {args.calls} calls per case")
    print(
        text_table(
            ("case", "status", "p50 ms", "p99 ms", "max ms", "calls/s"),
            health_rows,
        )
    )
    print()
    print("Resident memory (WORKER_MAX_MEMORY_MB default: 100)")
    print(text_table(("process", "RSS MiB"), memory_rows))
    return 0


def healthz_rows(python, env, redis_server, calls, directory) -> list[tuple[str, ...]]:
    port = free_port()
    with open(directory / "gunicorn.log", "wb") as log:
        web = subprocess.Popen(
            [python, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    rows = []
    try:
        wait_for(lambda: _answers(port), "gunicorn to answer")
        for label in ("database and Redis up", "Redis stopped"):
            if label == "Redis stopped":
                redis_server.stop()
            result = healthz_case(port, calls if label.endswith("up") else max(calls // 10, 20))
            rows.append(
                (
                    label,
                    "/".join(map(str, result["status"])),
                    f"{result['p50']:.2f}",
                    f"{result['p99']:.2f}",
                    f"{result['max']:.2f}",
                    f"{result['per_second']:.0f}",
                )
            )
    finally:
        web.terminate()
        web.wait(timeout=30)
    return rows


def _answers(port: int) -> bool:
    try:
        return call(port)[0] in (200, 503)
    except OSError:
        return False


def memory_table(python, env, emails, catcher, directory) -> list[tuple[str, ...]]:
    rows = []
    with open(directory / "supervisor.log", "wb") as log:
        supervisor = subprocess.Popen(
            [python, "worker.py", "--processes", "2", "--max-jobs", "0"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        parent = psutil.Process(supervisor.pid)
        children = wait_for(lambda: len(parent.children()) == 2 and parent.children(), "workers")
        time.sleep(3)  # each worker has built its app and is waiting on Redis
        rows.append(("supervisor (--processes 2)", f"{rss(supervisor.pid):.1f}"))
        for n, child in enumerate(children, 1):
            rows.append((f"worker {n}, idle", f"{rss(child.pid):.1f}"))
        seed(env, emails)
        wait_for(lambda: len(catcher.caught) >= emails, f"{emails} emails", timeout=600)
        time.sleep(0.5)
        peak = max(rss(child.pid) for child in children)
        rows.append((f"largest worker after {emails} emails", f"{peak:.1f}"))
    finally:
        supervisor.terminate()
        supervisor.wait(timeout=60)
    return rows


def seed(env: dict, emails: int) -> None:
    """`emails` notifications, committed and enqueued the app's way (sign-ups)."""
    code = (
        "import sys\n"
        "from app import create_app\n"
        "from app.accounts.service import sign_up\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    for n in range(int(sys.argv[1])):\n"
        "        sign_up(f'user{n}@example.com', 'long password', f'User {n}')\n"
    )
    subprocess.run([sys.executable, "-c", code, str(emails)], cwd=ROOT, env=env, check=True)


if __name__ == "__main__":
    sys.exit(main())
