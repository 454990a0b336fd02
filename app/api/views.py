"""The API's views: each reads its body, calls a service, renders the result.

`route(name)` routes a view from its row in spec.OPERATIONS, so the method, path,
body schema, success status and authentication the document states are the ones
the code applies. The view gets the validated `body` and, unless the operation is
public, the authenticated `user`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Blueprint, jsonify, request, url_for

from app import i18n
from app.accounts import service as accounts
from app.api import body as bodies
from app.api import query, serializers
from app.api.auth import bearer_user, issue_token
from app.api.errors import service_error
from app.api.spec import BY_NAME, PREFIX, document
from app.cursors import make_cursor, read_cursor
from app.errors import InvalidInput, MoochError
from app.lending import service as lending

api = Blueprint("api", __name__, url_prefix=PREFIX)
api.register_error_handler(MoochError, service_error)


def route(name: str) -> Callable:
    op = BY_NAME[name]

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def endpoint(**path):
            if op.auth:
                path["user"] = bearer_user()
            if op.body is not None:
                path["body"] = bodies.read(op.body)
            result = view(**path)
            result, headers = result if isinstance(result, tuple) else (result, {})
            return jsonify(result), op.status, headers

        api.add_url_rule(op.rule, endpoint=name, view_func=endpoint, methods=[op.method])
        return view

    return decorate


@route("create_token")
def create_token(body):
    return issue_token(body["email"], body["password"])


@route("sign_up")
def sign_up(body):
    # The API answers in English; the account's mail speaks the client's language.
    accounts.sign_up(body["email"], body["name"], locale=i18n.best_match(request.accept_languages))
    return {
        "message": "We emailed that address a link to confirm it and choose a password "
        "(or, if it already has an account, a note saying someone tried)."
    }


@route("confirm")
def confirm(body):
    return serializers.user(accounts.activate(body["token"], body["password"], body.get("name")))


@route("resend_confirmation")
def resend_confirmation(body):
    accounts.resend_confirmation(body["email"])
    return {
        "message": "If an account is waiting for that address to be confirmed, we sent it "
        "a new link."
    }


@route("list_loans")
def list_loans(user):
    args = query.read(BY_NAME["list_loans"])
    before = None
    if "cursor" in args:
        side, before = read_cursor("loans", args["cursor"])
        if side != "before":
            raise InvalidInput("The cursor is not one this list gave out.", field="cursor")
    page = lending.loan_page(user, args["limit"], before=before)
    cursor = make_cursor("loans", "before", page.loans[-1].id) if page.more else None
    path = url_for("api.list_loans", limit=args["limit"], cursor=cursor) if cursor else None
    return serializers.loan_list(page.loans, user, path, cursor)


@route("create_loan")
def create_loan(user, body):
    loan = lending.create_loan(
        user,
        body["role"],
        body["counterparty_email"],
        body["item"],
        due_date=body.get("due_date"),
        message=body.get("message"),
    )
    return serializers.loan(loan, user), {"Location": url_for("api.get_loan", loan_id=loan.id)}


@route("get_loan")
def get_loan(user, loan_id):
    return serializers.loan(lending.loan_for(user, loan_id), user)


@route("fire_event")
def fire_event(user, loan_id, body):
    loan = lending.fire_event(
        user,
        loan_id,
        body["event"],
        due_date=body.get("due_date"),
        expected_version=body.get("version"),
        note=body.get("note"),
    )
    return serializers.loan(lending.read_again(loan), user)


@route("openapi")
def openapi():
    return document()
