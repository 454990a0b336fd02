"""No enumeration: sign-up, login and loan creation answer the same whichever kind of
address they are given, so nobody learns from Mooch who has an account."""

from __future__ import annotations

import re
import statistics
import time
from datetime import timedelta

import pytest

from app.accounts import service as accounts
from app.errors import NotAuthenticated
from app.extensions import db
from app.lending import service as lending
from tests.support import PASSWORD

KINDS = ("new", "active", "pending", "invited", "closed")


@pytest.fixture
def addresses(make) -> dict[str, str]:
    """One address of each kind; "new" has no row at all."""
    found = {"new": "nobody@example.com"}
    for kind in KINDS[1:]:
        found[kind] = make.user(kind.capitalize(), state=kind).email
    return found


def page_without(html: str, address: str) -> str:
    return html.replace(address, "ADDRESS")


def test_sign_up_answers_the_same_on_the_page(client, addresses, enqueued):
    answers = set()
    for address in addresses.values():
        response = client.post("/signup", data={"name": "Sam", "email": address})
        answers.add((response.status_code, response.headers.get("Location")))
        answers.add(page_without(client.page(response.headers["Location"]), address))
    assert len(answers) == 2  # one redirect, one page
    # What differs is the mail, which only the address's owner reads.
    assert sorted(enqueued.mail()) == sorted(
        [
            ("signup_confirmation", addresses["new"]),
            ("signup_attempt", addresses["active"]),
            ("signup_confirmation", addresses["pending"]),
            ("signup_confirmation", addresses["invited"]),
            ("signup_confirmation", addresses["closed"]),  # a fresh account
        ]
    )


def test_sign_up_answers_the_same_on_the_api(api, addresses):
    answers = {
        (r.status_code, str(r.json))
        for r in (api.post("/users", {"email": a, "name": "Sam"}) for a in addresses.values())
    }
    assert len(answers) == 1


@pytest.mark.parametrize("kind", ["new", "invited", "pending", "closed", "wrong password"])
def test_login_answers_the_same(kind, client, api, addresses, make):
    address = make.user("Wes").email if kind == "wrong password" else addresses[kind]
    password = "not the password" if kind == "wrong password" else PASSWORD
    page = client.post("/login", data={"email": address, "password": password})
    assert page.status_code == 401
    assert "Wrong email or password." in page.get_data(as_text=True)
    token = api.post("/auth/token", {"email": address, "password": password})
    assert (token.status_code, token.json["error"]["message"]) == (401, "Wrong email or password.")


def test_login_takes_the_same_work_whatever_the_address(addresses, make):
    """Each refusal checks one password hash, also for an address with no account or
    no password: without the dummy hash an unknown address answered in well under a
    millisecond and a wrong password in tens of them. Compared with a wide margin (the
    machine is shared); the figures are in `make bench`."""
    cases = {kind: addresses[kind] for kind in ("new", "invited", "pending", "closed")}
    cases["wrong password"] = make.user("Wes").email

    def median_seconds(address: str) -> float:
        times = []
        for _ in range(4):
            started = time.perf_counter()
            with pytest.raises(NotAuthenticated):
                accounts.authenticate(address, "not the password")
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    medians = {kind: median_seconds(address) for kind, address in cases.items()}
    slowest = max(medians.values())
    assert all(m > slowest / 4 for m in medians.values()), medians


def test_loan_creation_answers_the_same_for_an_account_an_invitation_or_a_closed_one(
    api, make, addresses
):
    lena = make.user("Lena")
    bodies = set()
    for kind in ("active", "invited", "closed", "new"):
        created = api.post(
            "/loans",
            {"role": "lender", "counterparty_email": addresses[kind], "item": "ladder"},
            as_=lena,
        )
        assert created.status_code == 201
        loan = created.json
        # Until the counterparty answers, they show by the address typed.
        assert loan["borrower"]["name"] == addresses[kind]
        text = str(loan).replace(addresses[kind], "ADDRESS")
        text = re.sub(r"'(id|version)': \d+", r"'\1': N", text)
        bodies.add(re.sub(r"\d{4}-\d\d-\d\dT[\d:]+Z", "TIME", text))
    assert len(bodies) == 1, bodies


def test_mail_to_the_one_who_asked_names_the_other_by_the_address_until_they_answer(
    make, delivered
):
    lena, kim = make.user("Lena"), make.user("Kim")
    loan = lending.create_loan(lena, "lender", kim.email, "ladder")
    delivered.run()
    # Nobody answered: the loan expires, and both are told.
    loan.state_changed_at -= timedelta(days=30)
    db.session.commit()
    lending.run_clock()
    mail = {m["To"].addresses[0].addr_spec: m for m in delivered.run()}
    to_lena = mail[lena.email].get_body(preferencelist=("plain",)).get_content()
    assert kim.email in to_lena and "Kim" not in to_lena
    to_kim = mail[kim.email].get_body(preferencelist=("plain",)).get_content()
    assert "Lena" in to_kim
