"""The daily digest (issue 12, part 3): what a person chose to get "in a daily digest"
is held when it happens (status `digest`, no job) and comes in one mail at their
morning, DIGEST_HOUR in their own time zone, grouped by loan; nothing when nothing
happened; exactly once per person and day, however many clocks run at once. The time
is always passed in (`now`), never read from the wall clock.

Runs on SQLite, and on PostgreSQL with TEST_DATABASE_URL.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict
from app.extensions import db
from app.lending import service as lending
from app.models import Notification, User
from app.notifications import digest, outbox, preferences, suppression
from app.notifications.notifiers import DIGEST
from app.notifications.retry import retry
from app.worker.clock import tick
from tests.support import html_of, text_of

# A day in the past, in winter; every local hour below is converted with zoneinfo.
DAY = date(2026, 1, 14)
TOKYO, NEW_YORK = "Asia/Tokyo", "America/New_York"
FAR = "2099-01-01"


def local(day: date, hour: int, zone: str, minute: int = 0) -> datetime:
    """`hour:minute` on `day` in `zone`, as the naive UTC moment the clock is given."""
    moment = datetime.combine(day, time(hour, minute), ZoneInfo(zone))
    return moment.astimezone(UTC).replace(tzinfo=None)


def wants_digest(user: User, *notifiers: str) -> User:
    for name in notifiers:
        preferences.choose(user, name, preferences.DAILY)
    db.session.commit()
    return user


def rows(*where) -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification).where(*where).order_by(Notification.id)))


def held(user: User) -> list[Notification]:
    return rows(Notification.recipient_id == user.id, Notification.status == outbox.HELD)


def digests(user: User | None = None) -> list[Notification]:
    mine = [Notification.recipient_id == user.id] if user is not None else []
    return rows(Notification.notifier == DIGEST, *mine)


def made_at(moment: datetime, user: User) -> None:
    """Say that everything held for `user` happened at `moment` (naive UTC)."""
    db.session.execute(
        update(Notification)
        .where(Notification.recipient_id == user.id, Notification.status == outbox.HELD)
        .values(created_at=moment)
    )
    db.session.commit()


def borrows(borrower: User, lender: User, item: str, *, hand_over: bool = False):
    """`borrower` asks, `lender` accepts (mail to the borrower) and perhaps hands it
    over (mail to both)."""
    loan = lending.create_loan(borrower, "borrower", lender.email, item)
    lending.fire_event(lender, loan.id, "accept")
    if hand_over:
        lending.fire_event(lender, loan.id, "hand_over", due_date=FAR)
    return loan


# -- held when it happens ---------------------------------------------------------------


def test_a_mail_chosen_for_the_digest_is_held_with_no_job(app, make, enqueued):
    lena = make.user("Lena")
    bram = wants_digest(make.user("Bram"), "loan_accepted", "loan_started")
    loan = borrows(bram, lena, "tent", hand_over=True)

    statuses = {(n.notifier, n.recipient_email): n.status for n in enqueued.notifications()}
    assert statuses == {
        ("loan_requested", lena.email): "pending",  # essential: always at once
        ("loan_accepted", bram.email): "digest",
        ("loan_started", bram.email): "digest",
        ("loan_started", lena.email): "pending",  # Lena chose nothing: at once
    }
    jobs = set(enqueued.job_ids())
    for row in held(bram):
        assert row.digest_id is None and row.last_error is None and row.loan_id == loan.id
        assert f"notification-{row.id}" not in jobs
    assert len(jobs) == 2
    # Nothing for the relay either: a held row is never due.
    app.config["NOTIFICATION_RELAY_GRACE"] = 0
    assert outbox.relay() == 0


def test_suppression_wins_over_the_digest(app, make, enqueued):
    lena = make.user("Lena")
    bram = wants_digest(make.user("Bram"), "loan_accepted")
    for _ in range(app.config["MAIL_BOUNCE_LIMIT"]):
        suppression.record_bounce(bram.email, "550 5.1.1 No such user")
    borrows(bram, lena, "tent")
    [accepted] = rows(Notification.notifier == "loan_accepted")
    assert accepted.status == outbox.SUPPRESSED and accepted.digest_id is None


# -- at each person's morning -------------------------------------------------------------


def test_each_digest_is_built_at_its_readers_morning(app, make, enqueued):
    lena = make.user("Lena")
    tokyo, new_york = make.user("Toshi"), make.user("Nora")
    for user, zone in ((tokyo, TOKYO), (new_york, NEW_YORK)):
        user.time_zone = zone
        wants_digest(user, "loan_accepted")
        borrows(user, lena, "tent")
        # 14:00 UTC: 23:00 in Tokyo, 09:00 in New York, both after that day's 08:00.
        made_at(datetime.combine(DAY, time(14)), user)
    hour = app.config["DIGEST_HOUR"]
    assert hour == 8
    tokyo_morning = local(DAY + timedelta(days=1), hour, TOKYO)
    new_york_morning = local(DAY + timedelta(days=1), hour, NEW_YORK)
    assert tokyo_morning < new_york_morning

    assert digest.build_digests(tokyo_morning - timedelta(minutes=1)) == 0
    assert digests() == []
    # The worker's tick builds it (and enqueues its job like any row's).
    assert tick(app, tokyo_morning) == {"relayed": 0, "digests": 1}
    [built] = digests()
    assert (built.recipient_id, built.digest_day) == (tokyo.id, DAY + timedelta(days=1))
    assert built.status == "pending" and f"notification-{built.id}" in enqueued.job_ids()
    assert [row.digest_id for row in held(tokyo)] == [built.id]
    assert [row.digest_id for row in held(new_york)] == [None]

    assert digest.build_digests(tokyo_morning + timedelta(hours=1)) == 0
    assert digest.build_digests(new_york_morning - timedelta(minutes=1)) == 0
    assert digest.build_digests(new_york_morning) == 1
    [mine] = digests(new_york)
    assert mine.digest_day == DAY + timedelta(days=1)
    assert [row.digest_id for row in held(new_york)] == [mine.id]
    # Later that day and the next: nothing new happened, nothing is sent.
    for later in (12, 24, 48):
        assert digest.build_digests(new_york_morning + timedelta(hours=later)) == 0
    assert len(digests()) == 2


def test_the_day_is_the_readers_own(app):
    """08:00 in Tokyo is 23:00 UTC the day before: the digest of the Tokyo day."""
    now = local(DAY, 8, TOKYO)
    assert now == datetime.combine(DAY - timedelta(days=1), time(23))
    assert digest.due_day(TOKYO, now, 8) == (DAY, now)
    assert digest.due_day(TOKYO, now - timedelta(seconds=1), 8) == (
        DAY - timedelta(days=1),
        now - timedelta(days=1),
    )
    # An unknown zone is read as UTC rather than stopping anyone's digest.
    assert digest.due_day("Mars/Olympus_Mons", datetime.combine(DAY, time(9)), 8) == (
        DAY,
        datetime.combine(DAY, time(8)),
    )


def test_digest_hour_is_configured(app, make, enqueued):
    app.config["DIGEST_HOUR"] = 18
    lena, bram = make.user("Lena"), wants_digest(make.user("Bram"), "loan_accepted")
    borrows(bram, lena, "tent")
    made_at(datetime.combine(DAY, time(9)), bram)
    assert digest.build_digests(datetime.combine(DAY, time(17, 59))) == 0
    assert digest.build_digests(datetime.combine(DAY, time(18))) == 1


def test_what_happens_after_the_morning_waits_for_the_next(app, make, enqueued):
    lena, bram = make.user("Lena"), wants_digest(make.user("Bram"), "loan_accepted")
    borrows(bram, lena, "tent")
    made_at(datetime.combine(DAY, time(7, 59)), bram)
    morning = datetime.combine(DAY, time(8))
    assert digest.build_digests(morning) == 1
    [first] = digests()

    borrows(bram, lena, "bike")  # at 08:00:01 that day: tomorrow's news
    [_, late] = held(bram)
    late.created_at = morning + timedelta(seconds=1)
    db.session.commit()
    assert digest.build_digests(morning + timedelta(hours=3)) == 0
    assert digest.build_digests(morning + timedelta(days=1)) == 1
    second = digests()[-1]
    assert second.digest_day == DAY + timedelta(days=1)
    assert [row.digest_id for row in held(bram)] == [first.id, second.id]


def test_a_clock_that_was_down_at_the_morning_catches_up(app, make, enqueued):
    lena, bram = make.user("Lena"), wants_digest(make.user("Bram"), "loan_accepted")
    borrows(bram, lena, "tent")
    made_at(datetime.combine(DAY, time(6)), bram)
    # No clock ran from 08:00 until 23:30: that day's digest is built then, once.
    assert digest.build_digests(datetime.combine(DAY, time(23, 30))) == 1
    assert [d.digest_day for d in digests()] == [DAY]


# -- nothing when nothing happened; never twice a day -------------------------------------


def test_nothing_happened_nothing_is_sent(app, make, enqueued):
    lena = make.user("Lena")
    wants_digest(lena, "loan_accepted", "loan_returned")
    for hours in (8, 9, 32):
        assert digest.build_digests(datetime.combine(DAY, time(0)) + timedelta(hours=hours)) == 0
    assert rows() == [] and enqueued.job_ids() == []


def test_not_built_twice_the_same_day(app, make, enqueued):
    lena, bram = make.user("Lena"), wants_digest(make.user("Bram"), "loan_accepted")
    borrows(bram, lena, "tent")
    made_at(datetime.combine(DAY, time(6)), bram)
    morning = datetime.combine(DAY, time(8))
    assert digest.build_digests(morning) == 1

    # A row of before the morning, committed after the digest was built (its
    # transaction was slow): it waits for the next day's, never a second one today.
    borrows(bram, lena, "bike")
    made_at(datetime.combine(DAY, time(7, 59)), bram)
    for later in (0, 1, 15):
        assert digest.build_digests(morning + timedelta(hours=later)) == 0
    assert len(digests()) == 1
    assert digest.build_digests(morning + timedelta(days=1)) == 1
    assert [d.digest_day for d in digests()] == [DAY, DAY + timedelta(days=1)]


def test_the_database_refuses_a_second_digest_of_a_day(app, make):
    bram = make.user("Bram")
    for _ in range(2):
        db.session.add(
            Notification(
                notifier=DIGEST,
                recipient=bram,
                recipient_email=bram.email,
                status="pending",
                digest_day=DAY,
            )
        )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_what_was_held_before_a_change_of_mind_still_comes(app, make, enqueued):
    """Held under the choice of the moment: turning the mail to "immediately" or off
    afterwards does not drop it; it comes in the next digest."""
    lena = make.user("Lena")
    bram = wants_digest(make.user("Bram"), "loan_accepted", "loan_started")
    borrows(bram, lena, "tent", hand_over=True)
    preferences.choose(bram, "loan_accepted", preferences.IMMEDIATELY)
    preferences.choose(bram, "loan_started", preferences.NEVER)
    db.session.commit()
    made_at(datetime.combine(DAY, time(6)), bram)
    assert digest.build_digests(datetime.combine(DAY, time(8))) == 1
    [built] = digests()
    assert [row.digest_id for row in held(bram)] == [built.id, built.id]


def test_a_closed_account_gets_no_digest(app, make, enqueued):
    lena, bram = make.user("Lena"), wants_digest(make.user("Bram"), "loan_accepted")
    borrows(bram, lena, "tent")
    made_at(datetime.combine(DAY, time(6)), bram)
    bram.state = "closed"
    db.session.commit()
    assert digest.build_digests(datetime.combine(DAY, time(9))) == 0
    assert digests() == []


# -- many clocks at once --------------------------------------------------------------


def _clock(app, now, start, results, index):
    with app.app_context():
        try:
            start.wait(20)
            results[index] = digest.build_digests(now)
        except BaseException as exc:  # reported by the test
            results[index] = exc
        finally:
            db.session.remove()


def _race(app, now, clocks: int) -> dict[int, object]:
    start = threading.Barrier(clocks)
    results: dict[int, object] = {}
    threads = [
        threading.Thread(target=_clock, args=(app, now, start, results, n)) for n in range(clocks)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _scene(make, people: int) -> list[User]:
    lena = make.user("Lena")
    readers = []
    for n in range(people):
        reader = wants_digest(make.user(f"Reader{n}"), "loan_accepted", "loan_started")
        reader.time_zone = (TOKYO, NEW_YORK, "UTC")[n % 3]
        db.session.commit()
        borrows(reader, lena, f"tent {n}", hand_over=True)
        made_at(datetime.combine(DAY - timedelta(days=1), time(12)), reader)
        readers.append(reader)
    return readers


def _each_built_once(readers: list[User], results: dict[int, object]) -> None:
    assert all(isinstance(r, int) for r in results.values()), results
    assert sum(results.values()) == len(readers), results
    for reader in readers:
        [built] = digests(reader)
        assert built.digest_day is not None and built.status == "pending"
        assert [row.digest_id for row in held(reader)] == [built.id, built.id]


@pytest.mark.parametrize("clocks", [2, 3])
def test_clocks_racing_build_each_digest_once(app, make, enqueued, clocks):
    readers = _scene(make, 9)
    now = datetime.combine(DAY + timedelta(days=1), time(23, 30))  # everyone's morning passed
    results = _race(app, now, clocks)
    _each_built_once(readers, results)
    # Each digest has its job.
    jobs = enqueued.job_ids()
    assert all(f"notification-{d.id}" in jobs for d in digests())
    # And again, later the same day: nothing more.
    assert sum(_race(app, now + timedelta(minutes=20), clocks).values()) == 0
    assert len(digests()) == len(readers)


def test_clocks_that_all_looked_first_build_each_digest_once(app, make, enqueued, monkeypatch):
    """The worst interleaving, made certain: every clock has read who is waiting
    before any of them builds a digest."""
    readers = _scene(make, 6)
    looked = threading.Barrier(2)
    original = digest._waiting

    def waiting_then_wait():
        found = original()
        looked.wait(20)
        return found

    monkeypatch.setattr(digest, "_waiting", waiting_then_wait)
    results = _race(app, datetime.combine(DAY + timedelta(days=1), time(23, 30)), 2)
    monkeypatch.setattr(digest, "_waiting", original)
    _each_built_once(readers, results)


# -- the mail -------------------------------------------------------------------------------


def test_the_digest_is_delivered_by_the_worker_grouped_by_loan(app, make, delivered):
    lena, nia = make.user("Lena"), make.user("Nia")
    bram = make.user("Bram")
    bram.time_zone = "Europe/Amsterdam"
    wants_digest(bram, "loan_accepted", "loan_started")
    tent = borrows(bram, lena, "tent", hand_over=True)
    bike = borrows(bram, nia, "bike")
    delivered.run()  # what went at once: the requests, Lena's own "started"
    made_at(datetime.combine(DAY, time(12)), bram)
    assert delivered.run() == []

    morning = local(DAY + timedelta(days=1), 8, "Europe/Amsterdam")
    assert tick(app, morning)["digests"] == 1
    [mail] = delivered.run()
    assert mail["To"].addresses[0].addr_spec == bram.email
    assert mail["Subject"] == "Your Mooch digest: 3 updates on 2 loans"
    text = text_of(mail)
    base = app.config["BASE_URL"]
    tent_part, bike_part = text.split("\n\nLena’s tent")[1], text.split("\n\nNia’s bike")[1]
    assert text.index("Lena’s tent") < text.index("Nia’s bike")
    assert tent_part.index("Lena agreed to lend you the tent") < tent_part.index(
        "Lena lent you the tent"
    )
    assert f"See the loan: {base}/loans/{tent.id}" in tent_part.split("\n\n")[0]
    assert "Nia agreed to lend you the bike" in bike_part
    assert f"See the loan: {base}/loans/{bike.id}" in bike_part.split("\n\n")[0]
    assert "Wed 14 Jan, 13:00" in text  # 12:00 UTC, in Amsterdam
    assert "(times in Europe/Amsterdam)" in text
    html = html_of(mail)
    assert f'href="{base}/loans/{tent.id}"' in html and f'href="{base}/loans/{bike.id}"' in html
    assert "Lena agreed to lend you the tent" in html

    # A row like any other: sent by the worker, each carried row pointing at it.
    [built] = digests(bram)
    assert built.status == "sent" and built.sent_at is not None and built.attempts == 1
    assert {row.digest_id for row in held(bram)} == {built.id}
    assert mail["Message-ID"] == f"<{built.message_token}@mooch.test>"

    # Its footer and its one-click unsubscribe stop the digest.
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [link] = re.findall(r"<(https?://[^>]+)>", mail["List-Unsubscribe"])
    assert link in text and link in html and f"{base}/account#mail" in text
    assert "Stop the daily digest" in text
    response = app.test_client().post(link.removeprefix(base))
    assert response.status_code == 200
    assert "We will no longer send you a daily digest" in response.get_data(as_text=True)
    choices = preferences.choices_for(bram)
    assert choices["loan_accepted"] == choices["loan_started"] == "never"
    assert set(choices.values()) == {"immediately", "never"}


def test_a_digest_that_fails_is_retried_like_any_mail(app, make, delivered, mail_server):
    lena, bram = make.user("Lena"), wants_digest(make.user("Bram"), "loan_accepted")
    borrows(bram, lena, "tent")
    delivered.run()
    made_at(datetime.combine(DAY, time(6)), bram)
    assert digest.build_digests(datetime.combine(DAY, time(8))) == 1
    mail_server.fail_next(1, "451 4.3.0 Try again later")
    assert delivered.run() == []
    [built] = digests(bram)
    assert built.status == "pending" and built.attempts == 1 and built.not_before is not None


def test_the_command_builds_what_is_due_now(app, make, enqueued):
    lena, bram = make.user("Lena"), wants_digest(make.user("Bram"), "loan_accepted")
    borrows(bram, lena, "tent")
    made_at(datetime.combine(DAY, time(6)), bram)  # long before this morning, wherever
    result = app.test_cli_runner().invoke(args=["notifications", "digests"])
    assert result.exit_code == 0 and result.output == "built 1 digest(s)\n"
    result = app.test_cli_runner().invoke(args=["notifications", "digests"])
    assert result.output == "built 0 digest(s)\n"


def test_a_held_row_is_not_retried_on_its_own(app, make, enqueued):
    lena, bram = make.user("Lena"), wants_digest(make.user("Bram"), "loan_accepted")
    borrows(bram, lena, "tent")
    [row] = held(bram)
    with pytest.raises(Conflict, match="held for its reader's daily digest"):
        retry(row.id)
    assert held(bram)[0].status == "digest"
