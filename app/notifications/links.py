"""The absolute links mail carries, built from the configured BASE_URL.

The worker renders mail outside any request, so links cannot come from the request's
host; they are joined to BASE_URL. The web pages serve these same paths.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from flask import current_app

from app.accounts.tokens import make_token
from app.models import Loan, User


def loan_path(loan_id: int) -> str:
    return f"/loans/{loan_id}"


LINKS: dict[str, Callable[[User, Loan | None], str]] = {
    "loan": lambda user, loan: loan_path(loan.id) if loan else "/",
    "confirm": lambda user, loan: f"/confirm/{make_token('confirm', user)}",
    "reset": lambda user, loan: f"/reset-password/{make_token('reset', user)}",
    "disconnect": lambda user, loan: f"/account/close/{make_token('disconnect', user)}",
    "reconfirm": lambda user, loan: f"/account/address/{make_token('reconfirm', user)}",
    "signup": lambda user, loan: "/signup?" + urlencode({"email": user.email}),
    "home": lambda user, loan: "/",
    "login": lambda user, loan: "/login",
    "forgot": lambda user, loan: "/forgot-password",
}


def absolute(path: str) -> str:
    return current_app.config["BASE_URL"] + path


def link_for(kind: str, recipient: User, loan: Loan | None) -> str:
    return absolute(LINKS[kind](recipient, loan))
