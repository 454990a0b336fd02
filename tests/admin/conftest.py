"""Fixtures for the admin pages: an admin and a non-admin, each with a browser of
their own, and failed notifications made the way the app makes them (an SMTP server
that refuses the message for good)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.extensions import db
from app.lending import service as lending
from app.models import Notification, User
from app.notifications import outbox
from tests.support import notifications
from tests.web.conftest import Browser

REFUSED = "550 5.1.1 No such user"


@pytest.fixture
def browser(app) -> Callable[[], Browser]:
    app.test_client_class = Browser
    return app.test_client


@pytest.fixture
def admin_user(make) -> User:
    user = make.user("Ada")
    user.is_admin = True
    db.session.commit()
    return user


@pytest.fixture
def admin(browser, admin_user) -> Browser:
    return browser().log_in(admin_user)


@pytest.fixture
def failed(make, delivered, mail_server) -> Callable[..., list[Notification]]:
    """`failed(n)`: n notifications delivered to an SMTP server that answers 550, so
    they end `failed` with that error; the first is about a loan (loan_accepted). The
    server accepts mail again afterwards. Returns the failed rows, oldest first."""

    def make_failed(n: int = 1) -> list[Notification]:
        before = {row.id for row in notifications()}
        lena, bram = make.user("Lena"), make.user("Bram")
        loan = make.loan(lena, bram, item="blue tent")
        lending.fire_event(lena, loan.id, "accept")  # emails Bram: loan_accepted
        for _ in range(n - 1):
            outbox.record("welcome", make.user("Carl"))
        db.session.commit()
        mail_server.fail_always(REFUSED)
        try:
            delivered.run()
        finally:
            mail_server.reset_faults()
        rows = [row for row in notifications() if row.id not in before]
        assert [row.status for row in rows] == ["failed"] * n
        return rows

    return make_failed


@pytest.fixture
def sent(make, delivered) -> Callable[[], Notification]:
    """A notification delivered for real: `sent`."""

    def make_sent() -> Notification:
        before = {row.id for row in notifications()}
        outbox.record("welcome", make.user("Dora"))
        db.session.commit()
        assert len(delivered.run()) == 1
        [row] = [row for row in notifications() if row.id not in before]
        assert row.status == "sent"
        return row

    return make_sent
