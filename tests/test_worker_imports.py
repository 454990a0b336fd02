"""A worker process loads the mail side only: no pages, forms, API schemas, rate
limiter, login or migrations (they cost memory and start-up time in every worker)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WEB_SIDE = (
    "app.web",
    "app.api",
    "app.admin",
    "app.dev",
    "app.hooks",  # the mail providers' webhooks
    "app.testing",  # the app's test client
    "flask.testing",
    "flask_limiter",
    "flask_wtf",
    "wtforms",
    "flask_login",
    "flask_talisman",
    "flask_migrate",
    "alembic",
    "jsonschema",
    "zxcvbn",
)
# Loaded on first use only: `limits` when MAIL_RATE_LIMIT is set (off by default),
# icalendar by the first mail of a started loan.
ON_DEMAND = ("limits", "icalendar")


def test_a_worker_process_imports_nothing_of_the_web_side(tmp_path):
    script = f"""
import json, os, sys
os.environ["DATABASE_URL"] = "sqlite:///{tmp_path / "w.db"}"
import worker
from app import create_worker_app
from app.worker.clock import Clock, tick
from app.worker.runner import build_worker
from app.notifications.delivery import deliver
from app.notifications.jobs import deliver_notification
from app.lending.service import run_clock
app = create_worker_app()
assert build_worker and Clock and tick and deliver and deliver_notification and run_clock
print(json.dumps(sorted(sys.modules)))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    found = [
        m for m in loaded if any(m == w or m.startswith(w + ".") for w in WEB_SIDE + ON_DEMAND)
    ]
    assert found == []


def test_the_web_app_still_has_everything(app):
    assert {"web", "api", "admin"} <= set(app.blueprints)
    assert "limiter" in app.extensions and "csrf" in app.extensions
