"""GET /api/v1/loans a page at a time: `limit` and `cursor` as the document states
them, newest first, keyed on the loans so that new ones never shift a walk, and
never anyone else's loans. Every response is checked against the document."""

from __future__ import annotations

import pytest

from app.api import spec
from app.cursors import make_cursor
from app.extensions import db
from app.lending.states import STATES
from app.models import Loan, User
from tests.api.client import Api


def seed(lena: User, others: list[User], count: int) -> list[int]:
    """`count` loans of Lena's, on either side, in every state, with others' loans
    between them; her loan ids, newest first."""
    mine = []
    for n in range(count):
        other = others[n % len(others)]
        lender, borrower = (lena, other) if n % 2 else (other, lena)
        loan = Loan(
            item=f"thing {n}", lender=lender, borrower=borrower, state=STATES[n % len(STATES)]
        )
        db.session.add(loan)
        mine.append(loan)
        if n % 7 == 0:
            db.session.add(
                Loan(item="not hers", lender=others[0], borrower=others[1], state="lent")
            )
    db.session.commit()
    return sorted((loan.id for loan in mine), reverse=True)


def get(api: Api, url: str, user: User):
    """GET a path under the API with its query string, as `next` gives one."""
    path, _, query = url.removeprefix(spec.PREFIX).partition("?")
    return api.get(path, query_string=query, as_=user)


def walk(api: Api, user: User, url: str = "/loans") -> list[dict]:
    """Every page from `url` on, following `next` to the end."""
    pages = []
    while url is not None:
        response = get(api, url, user)
        assert response.status_code == 200, response.json
        pages.append(response.json)
        url = response.json["next"]
    return pages


def ids(page: dict) -> list[int]:
    return [each["id"] for each in page["loans"]]


def error_of(response) -> dict:
    assert response.status_code == 400, response.json
    return response.json["error"]


@pytest.fixture
def people(make) -> tuple[User, list[User]]:
    return make.user("Lena"), [make.user("Bram"), make.user("Sam"), make.user("Ada")]


def test_120_loans_walk_in_pages_of_50_50_and_20(api, people):
    lena, others = people
    mine = seed(lena, others, 120)

    pages = walk(api, lena, "/loans?limit=50")

    assert [len(page["loans"]) for page in pages] == [50, 50, 20]
    assert [i for page in pages for i in ids(page)] == mine
    assert pages[-1]["next"] is None and pages[-1]["next_cursor"] is None
    for page in pages[:-1]:
        assert page["next"] == f"{spec.PREFIX}/loans?limit=50&cursor={page['next_cursor']}"
    assert all(each["role"] in ("lender", "borrower") for p in pages for each in p["loans"])


def test_the_default_page_is_50_and_the_last_full_page_says_it_is_the_last(api, people):
    lena, others = people
    mine = seed(lena, others, 100)

    pages = walk(api, lena)

    assert [len(page["loans"]) for page in pages] == [50, 50]
    assert "limit=50" in pages[0]["next"]
    assert [i for page in pages for i in ids(page)] == mine


def test_no_loans_is_one_empty_last_page(api, make):
    page = api.get("/loans", as_=make.user("Nobody")).json
    assert page == {"loans": [], "next": None, "next_cursor": None}


@pytest.mark.parametrize("limit", [1, 7, 200])
def test_any_limit_from_1_to_200_is_a_page_of_that_size(limit, api, people):
    lena, others = people
    mine = seed(lena, others, 201)

    first = get(api, f"/loans?limit={limit}", lena).json
    assert ids(first) == mine[:limit]
    second = get(api, first["next"], lena).json
    assert ids(second) == mine[limit : 2 * limit]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "The limit must be at least 1 and at most 200."),
        ("limit=-1", "The limit must be at least 1 and at most 200."),
        ("limit=201", "The limit must be at least 1 and at most 200."),
        ("limit=99999999999999999999999999999", "The limit must be at least 1 and at most 200."),
        ("limit=abc", "The limit must be a whole number."),
        ("limit=1.5", "The limit must be a whole number."),
        ("limit=", "The limit must be a whole number."),
        ("limit=%2B5", "The limit must be a whole number."),
        ("limit=%205", "The limit must be a whole number."),
        ("limit=5&limit=6", "Give the limit once."),
    ],
)
def test_a_limit_out_of_bounds_or_not_an_integer_is_400(query, message, api, people):
    lena, others = people
    seed(lena, others, 3)
    error = error_of(get(api, f"/loans?{query}", lena))
    assert error == {"code": "invalid", "message": message, "field": "limit"}


def test_an_unknown_parameter_is_400_naming_it(api, people):
    lena, _ = people
    error = error_of(get(api, "/loans?limt=10", lena))
    assert error["field"] == "limt"
    assert error["message"] == "Unknown query parameter 'limt'; the parameters are limit, cursor."


def test_a_bad_or_tampered_cursor_is_400_naming_it(app, api, people):
    lena, others = people
    seed(lena, others, 30)
    cursor = get(api, "/loans?limit=10", lena).json["next_cursor"]
    payload, signature = cursor.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    # A cursor signed for the dashboard's list is not one of this list's.
    other_list = make_cursor("finished", "before", 5)
    bad = [
        "",
        "nonsense",
        cursor[:-3],
        f"{payload}.{flipped}",
        "MTA.this-is-not-a-signature",
        other_list,
        "x" * 101,
    ]
    for value in bad:
        error = error_of(api.get("/loans", as_=lena, query_string={"cursor": value}))
        assert error["field"] == "cursor", value
        assert error["code"] == "invalid"
    assert get(api, f"/loans?cursor={cursor}", lena).status_code == 200


def test_a_cursor_made_under_another_secret_key_is_400(app, api, people):
    lena, others = people
    seed(lena, others, 30)
    cursor = get(api, "/loans?limit=10", lena).json["next_cursor"]
    app.config["SECRET_KEY"] = "rotated"
    refused = get(api, f"/loans?cursor={cursor}", lena)
    assert error_of(refused)["field"] == "cursor"


def test_another_users_loans_never_appear(api, make, people):
    lena, others = people
    bram, sam = others[0], others[1]
    mine = seed(lena, others, 60)
    for n in range(40):
        db.session.add(Loan(item=f"theirs {n}", lender=bram, borrower=sam, state="closed"))
    db.session.commit()
    nobody = make.user("Nobody")

    pages = walk(api, lena, "/loans?limit=25")
    assert [i for page in pages for i in ids(page)] == mine
    assert all(
        lena.id in (e["lender"]["id"], e["borrower"]["id"]) for p in pages for e in p["loans"]
    )
    # Lena's cursor in someone else's hands is only a position: it lists their loans.
    assert walk(api, nobody, pages[0]["next"]) == [{"loans": [], "next": None, "next_cursor": None}]
    sams = [i for page in walk(api, sam, pages[0]["next"]) for i in ids(page)]
    assert sams and all(db.session.get(Loan, i).role_of(sam) for i in sams)


def test_a_loan_created_mid_walk_neither_repeats_nor_skips_a_loan(api, people):
    lena, others = people
    mine = seed(lena, others, 120)

    first = get(api, "/loans?limit=50", lena).json
    created = api.post(
        "/loans",
        {"role": "lender", "counterparty_email": others[0].email, "item": "new ladder"},
        as_=lena,
    )
    assert created.status_code == 201
    rest = walk(api, lena, first["next"])

    seen = ids(first) + [i for page in rest for i in ids(page)]
    assert seen == mine
    assert [len(page["loans"]) for page in rest] == [50, 20]
    # The new loan heads a walk begun afterwards.
    assert ids(get(api, "/loans?limit=1", lena).json) == [created.json["id"]]


def test_the_document_lists_the_query_parameters_with_their_schemas():
    operation = spec.document()["paths"]["/api/v1/loans"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert set(parameters) == {"limit", "cursor"}
    assert all(p["in"] == "query" and p["required"] is False for p in parameters.values())
    assert parameters["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 200,
        "default": 50,
    }
    assert parameters["cursor"]["schema"]["type"] == "string"
    assert "400" in operation["responses"]
    listed = spec.document()["components"]["schemas"]["LoanList"]
    assert listed["required"] == ["loans", "next", "next_cursor"]
