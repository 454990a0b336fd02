"""The API tells a mail held for its reader's daily digest by its status, `digest`,
and gives it the time its digest was sent (the document lists the status)."""

from __future__ import annotations

from datetime import date, datetime, time

from app.extensions import db
from app.lending import service as lending
from app.models import Notification
from app.notifications import digest, outbox, preferences

DAY = date(2026, 1, 14)


def _accepted(api, loan_id: int, viewer) -> dict:
    mail = api.get(f"/loans/{loan_id}", as_=viewer).json["notifications"]
    [accepted] = [m for m in mail if m["notifier"] == "loan_accepted"]
    return accepted


def test_a_held_mail_reads_digest_then_carries_its_digests_time(api, make, delivered):
    lena, bram = make.user("Lena"), make.user("Bram")
    preferences.choose(bram, "loan_accepted", preferences.DAILY)
    db.session.commit()
    loan = lending.create_loan(bram, "borrower", lena.email, "tent")
    lending.fire_event(lena, loan.id, "accept")
    delivered.run()
    for viewer in (lena, bram):
        assert _accepted(api, loan.id, viewer) == {
            "notifier": "loan_accepted",
            "recipient": bram.email,
            "status": "digest",
            "sent_at": None,
            "problem": None,
        }

    held = db.select(Notification).where(Notification.status == outbox.HELD)
    for row in db.session.scalars(held):
        row.created_at = datetime.combine(DAY, time(6))
    db.session.commit()
    assert digest.build_digests(datetime.combine(DAY, time(8))) == 1
    assert len(delivered.run()) == 1
    seen = _accepted(api, loan.id, lena)
    assert seen["status"] == "digest" and seen["sent_at"] is not None
