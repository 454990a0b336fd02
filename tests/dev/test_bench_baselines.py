"""The benchmarks' baselines, the code as it was, still run on today's app: the app
may drop a helper they used (bench/listing.py's old dashboard lost `loan_title` that
way, and `make bench` stopped half-way)."""

from __future__ import annotations

from app.accounts import service as accounts
from bench.listing import baseline
from tests.support import log_in_client


def test_the_old_dashboard_and_api_listing_still_answer(app, make):
    app.register_blueprint(baseline)
    alice, bob = make.user("Alice"), make.user("Bob")
    make.loan(alice, bob, state="lent", item="tent")
    make.loan(bob, alice, item="ladder")

    page = log_in_client(app.test_client(), alice).get("/bench/baseline/dashboard")
    assert page.status_code == 200, page.text
    assert "You lend tent to Bob" in page.text
    assert "You borrow ladder from" in page.text

    token = accounts.log_in(alice, "api")
    listing = app.test_client().get(
        "/bench/baseline/api/loans", headers={"Authorization": f"Bearer {token}"}
    )
    assert listing.status_code == 200, listing.text
    assert sorted(loan["item"] for loan in listing.json["loans"]) == ["ladder", "tent"]
