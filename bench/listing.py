"""`python -m bench.listing`: one user's loans, listed a page at a time, against the
unpaginated listing it replaced, measured side by side in the same runs.

One user with N loans (default 10,000: mostly finished, a few hundred open, with 60
other people on the other side), among other people's loans, on SQLite and, with
--postgres URL or TEST_DATABASE_URL, on PostgreSQL too. The database is built by the
migrations and the rows written directly. Every request goes through the app's whole
WSGI stack, in-process, by Flask's test client (no sockets): routing, the session
cookie or bearer token, the queries, the JSON or the template.

Each run calls every case C times and takes its p50; the cases take turns within a
run, so a noisy moment on a shared machine lands on both sides of a comparison. The
table gives the min, median and max of the R runs' p50s, each figure next to its
baseline's. The baseline is the old code path, kept below: all of the user's loans
in one query, serialized into one response (GET /api/v1/loans before it took a
limit), and the old dashboard, which listed every one of them on one page.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from flask import Blueprint, Flask, jsonify, render_template_string
from flask_login import current_user, login_required
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import selectinload
from werkzeug.security import generate_password_hash

from app import create_app
from app.api import serializers
from app.api.auth import bearer_user
from app.cursors import make_cursor
from app.extensions import db
from app.lending import service as lending
from app.models import Loan, User
from app.web import labels
from bench import text_table
from devtools.redis_server import RedisServer

PASSWORD = "bench password, long enough"
OTHERS = 60
# Of the user's loans: the open ones, by weight, and the rest finished.
OPEN_SHARE = 0.035
OPEN_WEIGHTS = {
    "requested": 2,
    "offered": 2,
    "agreed": 1,
    "lent": 4,
    "overdue": 1,
    "returned": 1,
    "disputed": 1,
}
FINISHED_WEIGHTS = {"closed": 7, "declined": 1, "cancelled": 1, "expired": 1}
ITEMS = ("cordless drill", "camping tent", "ladder", "pasta machine", "bike pump", "projector")
# How deep the deep pages start: this many loans below the newest.
DEEP = 9000


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.listing", description=__doc__)
    parser.add_argument("--loans", type=int, default=10_000, help="the user's loans (10000)")
    parser.add_argument(
        "--others", type=int, default=20_000, help="loans between other people (20000)"
    )
    parser.add_argument("--runs", type=int, default=5, help="runs (5)")
    parser.add_argument("--calls", type=int, default=30, help="calls per case per run (30)")
    parser.add_argument(
        "--baseline-calls",
        type=int,
        default=5,
        help="calls per baseline case per run (5): each takes seconds",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=os.environ.get("TEST_DATABASE_URL") or "",
        default=os.environ.get("TEST_DATABASE_URL"),
        metavar="URL",
        help="also on PostgreSQL: a server URL whose user may create a database "
        "(default TEST_DATABASE_URL)",
    )
    args = parser.parse_args(argv)
    if args.postgres == "":
        parser.error("--postgres needs a URL, or TEST_DATABASE_URL")
    if args.loans <= DEEP + 100:
        parser.error(f"--loans must be over {DEEP + 100}: the deep pages start at {DEEP}")
    return args


# -- the baseline: the listing as it was before pages ---------------------------------


def old_loans_for(user: User) -> list[Loan]:
    """lending.service.loans_for as it was: every loan of the user's, newest first."""
    return list(
        db.session.scalars(
            select(Loan)
            .where((Loan.lender_id == user.id) | (Loan.borrower_id == user.id))
            .options(selectinload(Loan.lender), selectinload(Loan.borrower))
            .order_by(Loan.id.desc())
        )
    )


def old_loan_list(loans: list[Loan], viewer: User) -> dict:
    """serializers.loan_list as it was."""
    return {"loans": [serializers.loan_summary(each, viewer) for each in loans]}


def old_loan_title(loan: Loan, viewer: User) -> str:
    """app.web.views.loan_title as it was (the pages no longer use it)."""
    if loan.role_of(viewer) == "lender":
        return f"You lend {loan.item} to {loan.shown_name(loan.borrower, viewer)}"
    return f"You borrow {loan.item} from {loan.shown_name(loan.lender, viewer)}"


OLD_DASHBOARD = """\
{% extends "web/base.html" %}
{% from "web/_macros.html" import state_badge %}
{% block title %}My loans{% endblock %}
{% macro loan_list(rows, empty) -%}
{% if rows %}
<ul class="loan-list">
  {% for loan, events in rows %}
  <li>
    <a class="loan-row" href="{{ url_for('web.loan', loan_id=loan.id) }}">
      <span class="loan-title">{{ loan_title(loan, current_user) }}</span>
      <span class="loan-meta">{{ state_badge(loan.state) }}
        {% if loan.due_date %}<span>due {{ loan.due_date.strftime("%-d %b %Y") }}</span>{% endif %}
        {% if events %}<span class="todo">you can: {{ events | map("replace", "_", " ") | join(", ") }}</span>{% endif %}
      </span>
    </a>
  </li>
  {% endfor %}
</ul>
{% else %}
<p class="empty">{{ empty }}</p>
{% endif %}
{%- endmacro %}
{% block content %}
<div class="page-head">
  <h1>My loans</h1>
  <p class="actions">
    <a class="button" href="{{ url_for('web.new_loan', role='borrower') }}">Ask to borrow</a>
    <a class="button button-secondary" href="{{ url_for('web.new_loan', role='lender') }}">Offer to lend</a>
  </p>
</div>
<section aria-labelledby="act">
  <h2 id="act">Needs your action <span class="count">{{ groups.act | length }}</span></h2>
  {{ loan_list(groups.act, "Nothing waits on you.") }}
</section>
<section aria-labelledby="wait">
  <h2 id="wait">Waiting on the other person <span class="count">{{ groups.wait | length }}</span></h2>
  {{ loan_list(groups.wait, "Nothing is under way.") }}
</section>
<section aria-labelledby="done">
  <h2 id="done">Finished <span class="count">{{ groups.done | length }}</span></h2>
  {{ loan_list(groups.done, "No finished loans yet.") }}
</section>
{% endblock %}
"""  # noqa: E501 -- app/web/templates/web/dashboard.html as it was, line for line

baseline = Blueprint("bench_baseline", __name__, url_prefix="/bench/baseline")


@baseline.get("/api/loans")
def old_list_loans():
    """app.api.views.list_loans as it was (routed by hand: the table has moved on)."""
    user = bearer_user()
    return jsonify(old_loan_list(old_loans_for(user), user))


@baseline.get("/dashboard")
@login_required
def old_dashboard():
    """app.web.views.dashboard as it was."""
    groups: dict[str, list] = {"act": [], "wait": [], "done": []}
    for loan in old_loans_for(current_user):
        events = lending.allowed_events(loan, current_user)
        if events:
            groups["act"].append((loan, events))
        elif loan.state in labels.FINISHED:
            groups["done"].append((loan, events))
        else:
            groups["wait"].append((loan, events))
    return render_template_string(OLD_DASHBOARD, groups=groups, loan_title=old_loan_title)


# -- the database ---------------------------------------------------------------------


def migrate(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()


def seed(app: Flask, loans: int, others: int, rng: random.Random) -> int:
    """The user and their counterparties, and the loans; the user's id."""
    now = datetime(2026, 12, 1)
    password_hash = generate_password_hash(PASSWORD)
    people = [
        {
            "name": "Mira" if n == 0 else f"Neighbour {n}",
            "email": "mira@example.com" if n == 0 else f"neighbour{n}@example.com",
            "password_hash": password_hash,
            "state": "active",
            "is_admin": False,
            "created_at": now - timedelta(days=1200),
            "version": 1,
        }
        for n in range(OTHERS + 1)
    ]
    with app.app_context():
        db.session.execute(insert(User), people)
        ids = list(db.session.scalars(select(User.id).order_by(User.id)))
        mira, neighbours = ids[0], ids[1:]
        mine = [True] * loans + [False] * others
        rng.shuffle(mine)
        rows = []
        for n, hers in enumerate(mine):
            if hers:
                other = rng.choice(neighbours)
                lender, borrower = (mira, other) if rng.random() < 0.5 else (other, mira)
            else:
                lender, borrower = rng.sample(neighbours, 2)
            weights = OPEN_WEIGHTS if rng.random() < OPEN_SHARE else FINISHED_WEIGHTS
            state = rng.choices(list(weights), list(weights.values()))[0]
            created = now - timedelta(minutes=(len(mine) - n) * 5)
            due = created.date() + timedelta(days=14) if state not in FINISHED_WEIGHTS else None
            rows.append(
                {
                    "item": rng.choice(ITEMS),
                    "message": None,
                    "lender_id": lender,
                    "borrower_id": borrower,
                    "due_date": due,
                    "state": state,
                    "created_at": created,
                    "state_changed_at": created,
                    "version": 1,
                }
            )
        for start in range(0, len(rows), 5000):
            db.session.execute(insert(Loan), rows[start : start + 5000])
        db.session.commit()
    return mira


# Every row's figures, for --json.
FIGURES: list[dict] = []


# -- measuring ------------------------------------------------------------------------


@dataclass(eq=False)
class Case:
    label: str
    path: str
    client: object
    headers: dict = field(default_factory=dict)
    p50s: list[float] = field(default_factory=list)
    size: int = 0

    def run(self, calls: int) -> None:
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            response = self.client.get(self.path, headers=self.headers)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{self.path}: {response.status}")
            self.size = len(response.data)
        self.p50s.append(statistics.median(times))


def log_in(app: Flask, email: str) -> tuple[object, dict]:
    """A browser logged in through the login form, and an API token from the API."""
    browser = app.test_client()
    response = browser.post("/login", data={"email": email, "password": PASSWORD})
    if response.status_code != 302:
        raise RuntimeError(f"logging in: {response.status}")
    api = app.test_client()
    issued = api.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    if issued.status_code != 200:
        raise RuntimeError(f"getting a token: {issued.status} {issued.json}")
    return browser, {"Authorization": f"Bearer {issued.json['token']}"}


def deep_api_path(client, headers: dict) -> str:
    """The page of 50 starting DEEP loans down, reached by following the API's own
    cursors (pages of 200)."""
    path, seen = "/api/v1/loans?limit=200", 0
    while seen < DEEP:
        page = client.get(path, headers=headers).json
        seen += len(page["loans"])
        path = page["next"]
    return f"/api/v1/loans?limit=50&cursor={page['next_cursor']}"


def deep_dashboard_path(app: Flask, user_id: int) -> str:
    """The dashboard's finished page starting DEEP finished loans down: the cursor its
    "Older finished loans" link would carry after DEEP / 20 clicks."""
    with app.app_context():
        finished = list(
            db.session.scalars(
                select(Loan.id)
                .where((Loan.lender_id == user_id) | (Loan.borrower_id == user_id))
                .where(Loan.state.in_(labels.FINISHED))
                .order_by(Loan.id.desc())
                .limit(DEEP)
            )
        )
        return "/?cursor=" + make_cursor("finished", "before", finished[-1])


def measure(url: str, args: argparse.Namespace, redis_url: str) -> list[tuple[str, ...]]:
    migrate(url)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "bench-secret",
            "BASE_URL": "http://localhost",
            "WTF_CSRF_ENABLED": False,
        }
    )
    app.register_blueprint(baseline)
    user_id = seed(app, args.loans, args.others, random.Random(1))
    if url.startswith("postgresql"):
        # A live database has its statistics; a freshly filled one not yet.
        with app.app_context(), db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    browser, bearer = log_in(app, "mira@example.com")
    api = app.test_client()
    old_api = Case("old", "/bench/baseline/api/loans", api, bearer)
    old_dashboard = Case("old", "/bench/baseline/dashboard", browser)
    deep_api, deep_dashboard = deep_api_path(api, bearer), deep_dashboard_path(app, user_id)
    pairs = [
        (Case("GET /api/v1/loans (first 50)", "/api/v1/loans", api, bearer), old_api),
        (Case(f"GET /api/v1/loans?cursor= (50 from {DEEP})", deep_api, api, bearer), old_api),
        (Case("GET / (dashboard)", "/", browser), old_dashboard),
        (Case(f"GET /?cursor= (20 finished from {DEEP})", deep_dashboard, browser), old_dashboard),
    ]
    news = [new for new, _ in pairs]
    olds = list(dict.fromkeys(old for _, old in pairs))
    for case in news + olds:  # warm: imports, templates, connections, caches
        case.run(2)
        case.p50s.clear()
    for run in range(args.runs):
        # The baseline's two cases go between the others, not after them all.
        order = [news[0], news[1], olds[0], news[2], news[3], olds[1]]
        for case in order:
            case.run(args.baseline_calls if case in olds else args.calls)
        print(f"  run {run + 1}/{args.runs} done", file=sys.stderr)
    with app.app_context():
        db.engine.dispose()
    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    return [row(database, new, old) for new, old in pairs]


def row(database: str, new: Case, old: Case) -> tuple[str, ...]:
    def ms(values: list[float], pick: Callable) -> str:
        return f"{pick(values):.1f}"

    FIGURES.append(
        {
            "case": new.label,
            "database": database,
            "p50_ms": {
                name: {"min": min(c.p50s), "median": statistics.median(c.p50s), "max": max(c.p50s)}
                for name, c in (("new", new), ("old", old))
            },
            "kib": {"new": new.size / 1024, "old": old.size / 1024},
        }
    )
    return (
        new.label,
        database,
        ms(new.p50s, min),
        ms(old.p50s, min),
        ms(new.p50s, statistics.median),
        ms(old.p50s, statistics.median),
        ms(new.p50s, max),
        ms(old.p50s, max),
        f"{statistics.median(old.p50s) / statistics.median(new.p50s):.0f}x",
        f"{new.size / 1024:.0f}",
        f"{old.size / 1024:.0f}",
    )


def postgres_database(server: str):
    """A database of our own on that server, dropped afterwards."""
    url = make_url(server).set(drivername="postgresql+psycopg")
    name = f"mooch_bench_{os.getpid()}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")

    class Database:
        def __enter__(self) -> str:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            return url.set(database=name).render_as_string(hide_password=False)

        def __exit__(self, *exc) -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    return Database()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mooch-bench-") as tmp:
        directory = Path(tmp)
        redis_server = None
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis_server = RedisServer(directory=directory / "redis").start()
            redis_url = redis_server.url
        try:
            print("SQLite…", file=sys.stderr)
            rows += measure(f"sqlite:///{directory / 'mooch.db'}", args, redis_url)
            if args.postgres:
                print("PostgreSQL…", file=sys.stderr)
                with postgres_database(args.postgres) as url:
                    rows += measure(url, args, redis_url)
        finally:
            if redis_server is not None:
                redis_server.close()
    print(
        f"One user's {args.loans} loans ({args.others} other loans in the table), "
        f"Flask test client; p50 of {args.calls} calls per run ({args.baseline_calls} "
        f"for old), over {args.runs} runs: ms"
    )
    header = (
        "case",
        "database",
        "min",
        "old",
        "median",
        "old",
        "max",
        "old",
        "old/new",
        "KiB",
        "old KiB",
    )
    print(text_table(header, rows))
    print(
        "old: the unpaginated listing it replaced, measured in the same runs: every one of "
        "the user's loans in one JSON response (for both API rows), or on one dashboard "
        "page (for both dashboard rows)."
    )
    if args.json:
        settings = {k: getattr(args, k) for k in ("loans", "others", "runs", "calls")}
        settings["baseline_calls"] = args.baseline_calls
        Path(args.json).write_text(json.dumps({**settings, "rows": FIGURES}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
