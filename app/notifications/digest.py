"""The daily digest (issue 12, part 3): one mail a morning with what a person chose to
get "in a daily digest".

- When a row is made (outbox.record) for a notifier its reader gets in the digest, it
  is recorded with the status `digest` (outbox.HELD) and no job: nothing is sent.
- Every tick of the worker's clock runs `build_digests(now)`. For each person with
  held rows, their digest is due once their own clock (User.time_zone) has passed
  DIGEST_HOUR (8) on a day: the digest *of that day*. It covers the held rows made
  before that morning's DIGEST_HOUR and not carried by an earlier digest; a row made
  later waits for the next morning. No held row, no digest: nothing is sent.
- A digest is a notification row like any other (notifier `daily_digest`, pending, one
  RQ job, the worker's claim, retries, `failed`, suppression); its `digest_day` names
  the day it is the digest of, and each row it carries names it in `digest_id`. It is
  rendered when the worker sends it, from the rows it carries, grouped by loan.

Exactly once per person per day, however many clocks run at once, is the database's
doing, twice over: a unique key on (recipient_id, digest_day) lets one clock insert
that day's digest (another's insert fails, on PostgreSQL after waiting for the first
to commit or roll back), and the rows are claimed by a conditional UPDATE (`digest_id
IS NULL`), so no row is carried by two digests whatever days two clocks think it is.
A clock that claims nothing rolls its digest back: there is never an empty one.

A clock that was down at someone's morning builds that day's digest when it is back
(the rows made before that morning), at any hour until the next morning. A row held
for someone who has since turned that mail off, or back to "immediately", still goes
in their next digest: it was held under the choice they had when it happened. Rows held
for an account that is closed (or not active) wait, and are never sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from app.extensions import db
from app.lending import words
from app.models import Notification, User, utcnow
from app.notifications import outbox
from app.notifications.links import absolute, loan_path
from app.notifications.notifiers import DIGEST, NOTIFIERS, SEE

log = logging.getLogger(__name__)

# Accounts that get a digest: those that may log in (the rows of others wait).
RECEIVING = ("active", "closing")


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone `name`, or UTC for one this machine does not know."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def due_day(time_zone: str | None, now: datetime, hour: int) -> tuple[date, datetime]:
    """For someone in `time_zone` at `now` (naive UTC): the day whose digest is due (the
    latest day of theirs whose `hour` o'clock has passed), and that moment as naive UTC,
    the end of what the digest covers."""
    tz = zone(time_zone)
    local = now.replace(tzinfo=UTC).astimezone(tz)
    day = local.date() if local.hour >= hour else local.date() - timedelta(days=1)
    morning = datetime.combine(day, time(hour), tz).astimezone(UTC).replace(tzinfo=None)
    return day, morning


def _waiting() -> list[tuple[int, str, datetime]]:
    """(user id, time zone, oldest held row) of everyone with rows held for a digest."""
    rows = db.session.execute(
        select(Notification.recipient_id, User.time_zone, func.min(Notification.created_at))
        .join(User, User.id == Notification.recipient_id)
        .where(
            Notification.status == outbox.HELD,
            Notification.digest_id.is_(None),
            User.state.in_(RECEIVING),
        )
        .group_by(Notification.recipient_id, User.time_zone)
        .order_by(Notification.recipient_id)
    ).all()
    return [tuple(row) for row in rows]


def build_digests(now: datetime | None = None) -> int:
    """Build every digest due at `now` (naive UTC; default the present), each in a
    transaction of its own; their jobs are enqueued as each commits. Returns how many
    this call built (a digest another clock built first is not counted)."""
    now = now or utcnow()
    hour = int(current_app.config["DIGEST_HOUR"])
    waiting = _waiting()
    db.session.rollback()
    built = 0
    for user_id, time_zone, oldest in waiting:
        day, morning = due_day(time_zone, now, hour)
        if oldest >= morning:
            continue  # all of it happened after this morning's: tomorrow's digest
        try:
            if build(user_id, day, morning) is not None:
                built += 1
        except Exception:  # one person's trouble must not hold up everyone's digest
            db.session.rollback()
            log.exception("digest: could not build the digest of user %s for %s", user_id, day)
    return built


def build(user_id: int, day: date, morning: datetime) -> Notification | None:
    """Insert `user_id`'s digest of `day` and claim for it their held rows made before
    `morning`, in one transaction. None (and nothing written) when that day's digest
    exists already, another clock is building it, or there is nothing to carry."""
    session = db.session
    try:
        if session.scalar(
            select(Notification.id).where(
                Notification.recipient_id == user_id, Notification.digest_day == day
            )
        ):
            session.rollback()
            return None
        user = session.get(User, user_id)
        digest = outbox.record(DIGEST, user)
        digest.digest_day = day
        # The unique key: of two clocks, the second's insert fails here.
        session.flush()
        claimed = session.execute(
            update(Notification)
            .where(
                Notification.recipient_id == user_id,
                Notification.status == outbox.HELD,
                Notification.digest_id.is_(None),
                Notification.created_at < morning,
            )
            .values(digest_id=digest.id)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            session.rollback()
            return None
        session.commit()
    except IntegrityError:
        session.rollback()
        log.info("digest: user %s's digest of %s was built by another clock", user_id, day)
        return None
    except OperationalError as exc:
        session.rollback()
        if "database is locked" in str(exc):  # SQLite: another clock holds the write
            log.info("digest: user %s's digest of %s is being built elsewhere", user_id, day)
            return None
        raise
    log.info("digest: notification %s for user %s (%s), %d rows", digest.id, user_id, day, claimed)
    return digest


# -- the mail: what the digest of one person says --------------------------------------


@dataclass(frozen=True)
class Entry:
    when: str  # "Sat 21 Nov, 14:05", in the reader's time zone
    what: str  # the subject the mail would have had, in the reader's words


@dataclass(frozen=True)
class Group:
    title: str  # "Your tent, with Bram" / "Lena’s tent" / "Your account"
    state: str | None  # where the loan stands now ("On loan"); None for the account
    link: str
    action: str
    entries: list[Entry]


@dataclass(frozen=True)
class View:
    day: str | None  # "Sat 21 Nov": the day this is the digest of
    time_zone: str
    groups: list[Group]
    count: int
    summary: str  # "3 updates on 2 loans", for the subject


def moment(value: datetime, tz: ZoneInfo) -> str:
    """A naive UTC moment in the reader's zone: "Sat 21 Nov, 14:05"."""
    local = value.replace(tzinfo=UTC).astimezone(tz)
    return f"{words.short_day(local.date())}, {local:%H:%M}"


def updates(n: int) -> str:
    return ngettext("%(num)d update", "%(num)d updates", n)


def _title(row: Notification) -> str:
    loan, reader = row.loan, row.recipient
    other = loan.shown_name(loan.other_party(reader), reader)
    if loan.role_of(reader) == "lender":
        return _("Your %(item)s, with %(other)s", item=loan.item, other=other)
    return _("%(other)s’s %(item)s", other=other, item=loan.item)


def _about(row: Notification) -> str:
    """What a digest about this one loan is about, for its subject."""
    loan, reader = row.loan, row.recipient
    other = loan.shown_name(loan.other_party(reader), reader)
    if loan.role_of(reader) == "lender":
        return _("about your %(item)s, with %(other)s", item=loan.item, other=other)
    return _("about %(other)s’s %(item)s", other=other, item=loan.item)


def view(notification: Notification) -> View:
    """The digest `notification` as its reader reads it: the rows it carries, by loan
    (the loan of the earliest first), each with the subject its own mail would have
    had. Needs an app context; reads only what the rows lead to."""
    from app.notifications.compose import context, one_line

    reader = notification.recipient
    tz = zone(reader.time_zone)
    rows = sorted(notification.covered, key=lambda r: (r.created_at, r.id or 0))
    groups: dict[object, Group] = {}
    for row in rows:
        what = one_line(NOTIFIERS[row.notifier], "subject", context(row))
        entry = Entry(moment(row.created_at, tz), what)
        key = row.loan.id if row.loan is not None else None
        if key not in groups:
            if row.loan is not None:
                groups[key] = Group(
                    _title(row),
                    words.state_name(row.loan.state),
                    absolute(loan_path(row.loan.id)),
                    _(SEE),
                    [],
                )
            else:
                groups[key] = Group(_("Your account"), None, absolute("/"), _("Open Mooch"), [])
        groups[key].entries.append(entry)
    loans = [g for k, g in groups.items() if k is not None]
    if len(groups) == 1 and loans:
        about = _about(rows[0])
    elif not loans:
        about = _("about your account")
    elif None in groups:
        about = _("on %(num)d loans and your account", num=len(loans))
    else:
        about = _("on %(num)d loans", num=len(loans))
    day = notification.digest_day
    return View(
        words.short_day(day) if day else None,
        tz.key,
        list(groups.values()),
        len(rows),
        _("%(updates)s %(about)s", updates=updates(len(rows)), about=about)
        if rows
        else _("nothing new"),
    )
