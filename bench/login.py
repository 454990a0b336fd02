"""`python -m bench.login`: how long a refused login takes, by kind of address.

A login refused for an unknown address, an invited or pending account (no password
chosen yet), a closed account or a wrong password must take as long as any other, or
its time tells which addresses have accounts. Mooch checks one password hash in every
case (a dummy one when there is none). The baseline is the old check, kept below,
which returned at once when there was no hash to check; both are measured in the same
runs, taking turns. Rate limits are off, so that every attempt is checked.

Each run times every case C times and takes its p50; the table gives the min, median
and max of the R runs' p50s, in milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from app import create_app
from app.accounts import service as accounts
from app.errors import MoochError
from app.extensions import db
from app.models import User
from bench import text_table

PASSWORD = "kettle mosaic harbor"
CASES = ("unknown", "invited", "pending", "closed", "wrong password")


def old_authenticate(email: str, password: str) -> User:
    """accounts.authenticate before the dummy hash: no hash, no work."""
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None or not user.check_password(password):
        raise MoochError("Wrong email or password.")
    return user


def seed() -> dict[str, str]:
    addresses = {"unknown": "nobody@example.com"}
    for state in ("invited", "pending", "closed", "active"):
        user = User(email=f"{state}@example.com", name=state, state=state)
        if state in ("closed", "active"):
            user.set_password(PASSWORD)
        db.session.add(user)
        addresses[state] = user.email
    db.session.commit()
    addresses["wrong password"] = addresses.pop("active")
    return addresses


def p50_ms(check, address: str, calls: int) -> float:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        with contextlib.suppress(MoochError):
            check(address, "not the password at all")
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.login", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs (5)")
    parser.add_argument("--calls", type=int, default=10, help="calls per case per run (10)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False})
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            addresses = seed()
            results: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.runs):
                for case in CASES:
                    for name, check in (("new", accounts.authenticate), ("old", old_authenticate)):
                        p50 = p50_ms(check, addresses[case], args.calls)
                        results.setdefault((case, name), []).append(p50)
            db.session.remove()
    rows = []
    for case in CASES:
        new, old = sorted(results[(case, "new")]), sorted(results[(case, "old")])
        rows.append(
            (
                case,
                f"{new[0]:.1f}",
                f"{old[0]:.2f}",
                f"{statistics.median(new):.1f}",
                f"{statistics.median(old):.2f}",
                f"{new[-1]:.1f}",
                f"{old[-1]:.2f}",
            )
        )
    print(
        f"A refused login, by kind of address: p50 of {args.calls} calls per run, "
        f"over {args.runs} runs (ms; old = before the dummy hash)"
    )
    print(text_table(("address", "min", "old", "median", "old", "max", "old"), rows))
    if args.json:
        figures = {
            "runs": args.runs,
            "calls": args.calls,
            "p50_ms": {
                case: {
                    name: {"min": min(v), "median": statistics.median(v), "max": max(v)}
                    for name in ("new", "old")
                    for v in [results[(case, name)]]
                }
                for case in CASES
            },
        }
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
