"""`python -m bench`: email delivery throughput of our worker and of a stock `rq worker`,
each draining the same N queued notifications into a local SMTP server."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

from bench import text_table
from bench.throughput import ROOT, Bench, Result, runners

MIB = 1024 * 1024


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--count", type=int, default=2000, help="emails per run (2000)")
    parser.add_argument(
        "--rq-count",
        type=int,
        help="emails for the stock rq run, when --count would take it too long; "
        "its time is then also shown extrapolated to --count (default: --count)",
    )
    parser.add_argument("--only", choices=["ours", "rq"], help="run just one of the two")
    parser.add_argument(
        "--parse-mail",
        action="store_true",
        help="catch mail with the stock MailCatcher, which parses every message "
        "(default: keep the bytes unparsed)",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per run (3600)")
    parser.add_argument("--json", metavar="PATH", help="also write the results here")
    args = parser.parse_args(argv)
    args.rq_count = min(args.rq_count or args.count, args.count)
    return args


def table(results: list[Result], count: int) -> str:
    ours = next((r for r in results if r.runner == "ours"), None)
    header = ("runner", "emails", "seconds", "emails/s", "worker RSS", "horse RSS", "vs ours")
    rows = []
    for r in results:
        rows.append(_row(r.runner, r, r.emails, r.seconds, ours))
        if r.emails < count:
            label = f"{r.runner}, extrapolated from {r.emails}"
            rows.append(_row(label, r, count, r.seconds * count / r.emails, ours))
    return text_table(header, rows)


def _row(label: str, r: Result, emails: int, seconds: float, ours: Result | None):
    rate = emails / seconds
    return (
        label,
        str(emails),
        f"{seconds:.1f}",
        f"{rate:.1f}",
        f"{r.worker_rss / MIB:.0f} MiB",
        f"{r.horse_rss / MIB:.0f} MiB" if r.horse_rss else "-",
        f"{ours.rate / rate:.1f}x slower" if ours and r is not ours else "",
    )


def revision() -> str:
    """The commit measured, marked -dirty when the working tree has changes."""
    git = ["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=8"]
    try:
        return subprocess.run(git, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    runs = [(name, n) for name, n in (("ours", args.count), ("rq", args.rq_count))
            if args.only in (None, name)]  # fmt: skip
    machine = {"nproc": os.cpu_count(), "python": platform.python_version(),
               "platform": platform.platform(), "revision": revision()}  # fmt: skip

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    results = []
    with Bench(max(n for _, n in runs), args.timeout, args.parse_mail, log) as bench:
        commands = runners(bench.redis_server.url, bench.app.config["RQ_QUEUE"])
        for name, n in runs:
            results.append(bench.run(name, commands[name], n))
            log(f"{name}: {n} emails in {results[-1].seconds:.1f}s")

    catcher = "MailCatcher, parsing" if args.parse_mail else "MailCatcher, counting"
    print(f"Email delivery throughput: {args.count} emails, SQLite, embedded Redis, {catcher}")
    print(f"nproc={machine['nproc']}  Python {machine['python']}  {machine['platform']}  "
          f"code {machine['revision']}")  # fmt: skip
    for r in results:
        print(f"  {r.runner}: {r.command}")
    print()
    print(table(results, args.count))
    if args.json:
        with open(args.json, "w") as f:
            data = {"machine": machine, "count": args.count, "parse_mail": args.parse_mail}
            json.dump({**data, "results": [r.as_dict() for r in results]}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
