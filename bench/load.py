"""`python -m bench.load SPEC`: the steady offered load of bench.pipeline (P4).

SPEC is a JSON file {"ids": [...], "rate": R}. For each id, on an open-loop schedule
of R a second: one transaction makes that notification pending and commits; the time
of the commit is noted (time.monotonic(), comparable with the mail sink's in the
bench process); then the app's own enqueue, as after any commit. The notes are
written back into SPEC as "committed" {id: time}, with "achieved_rate".
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from sqlalchemy import update

from app import create_app
from app.extensions import db
from app.models import Notification
from app.notifications.outbox import enqueue


def main(argv: list[str] | None = None) -> int:
    path = Path((argv or sys.argv[1:])[0])
    spec = json.loads(path.read_text())
    ids, rate = spec["ids"], float(spec["rate"])
    app = create_app()
    committed: dict[int, float] = {}
    with app.app_context():
        db.session.get(Notification, ids[0])
        db.session.rollback()  # connect before the clock starts
        start = time.monotonic() + 0.2
        for n, nid in enumerate(ids):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            db.session.execute(
                update(Notification)
                .where(Notification.id == nid)
                .values(status="pending", attempts=0, not_before=None, sent_at=None)
            )
            db.session.commit()
            committed[nid] = time.monotonic()
            if not enqueue([nid]):
                raise RuntimeError("could not enqueue")
        elapsed = time.monotonic() - start
    spec.update(committed=committed, achieved_rate=len(ids) / elapsed)
    path.write_text(json.dumps(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
