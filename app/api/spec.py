"""The API's contract in one place: the JSON Schema of every body, the table of
operations, and the OpenAPI 3.1 document built from both.

The views are routed from OPERATIONS and validate request bodies with these same
schemas (app/api/views.py), and /api/v1/openapi.json is built from them, so the
document cannot drift from the code. tests/api/test_spec.py checks that every
/api/v1 route is in the table, and the schemathesis run checks every response
against the document.

`additionalProperties` is false everywhere, on purpose: a request with a field the
API does not know (a typo such as `due-date`) is refused with 400 naming it, and a
response carries exactly the fields documented here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from http import HTTPStatus

from app.accounts import passwords
from app.accounts import states as account_states
from app.errors import MoochError
from app.lending import service as lending
from app.lending import states as loan_states
from app.notifications import outbox

PREFIX = "/api/v1"
# PostgreSQL's integer: a larger id in a path could never name a row.
MAX_ID = 2**31 - 1

# -- pieces ---------------------------------------------------------------------


def _object(properties: dict, required: tuple[str, ...] = (), **extra) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
        **extra,
    }


def _nullable(schema: dict) -> dict:
    return {**schema, "type": [schema["type"], "null"]}


def _text(max_length: int, min_length: int = 1, **extra) -> dict:
    return {"type": "string", "minLength": min_length, "maxLength": max_length, **extra}


EMAIL = _text(254, format="email")
DATE = {"type": "string", "format": "date", "description": "YYYY-MM-DD"}
DATE_TIME = {"type": "string", "format": "date-time"}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}

# The events a party may fire, in the order of the loan's table; the clock's own
# (expire, remind, mark_overdue) are not a client's to send.
PARTY_EVENTS = list(
    dict.fromkeys(
        s.event for s in loan_states.LOAN.steps if s.source and s.who & set(loan_states.PARTIES)
    )
)

# -- request bodies -------------------------------------------------------------

TOKEN_REQUEST = _object(
    {"email": _text(254), "password": _text(1024)},
    ("email", "password"),
)
SIGN_UP = _object(
    {"email": EMAIL, "name": _text(120)},
    ("email", "name"),
)
CONFIRM = _object(
    {
        "token": _text(1000, description="The token from the emailed link, /confirm/<token>."),
        "password": _text(
            passwords.MAX_LENGTH,
            passwords.MIN_LENGTH,
            description="The password the account will have: at least "
            f"{passwords.MIN_LENGTH} characters, and not a common or guessable one.",
        ),
        "name": _text(120, description="Your name, if it differs from the one signed up with."),
    },
    ("token", "password"),
)
RESEND = _object({"email": EMAIL}, ("email",))
NEW_LOAN = _object(
    {
        "role": {
            "enum": list(loan_states.PARTIES),
            "description": "Your side: borrower asks to borrow, lender offers to lend.",
        },
        "counterparty_email": EMAIL,
        "item": _text(lending.MAX_ITEM),
        "due_date": _nullable(DATE),
        "message": _nullable(_text(lending.MAX_MESSAGE, 0)),
    },
    ("role", "counterparty_email", "item"),
)
LOAN_EVENT = _object(
    {
        "event": {"enum": PARTY_EVENTS},
        "due_date": _nullable(
            {**DATE, "description": "Required by hand_over unless the loan already has one."}
        ),
        "note": _nullable(
            _text(
                lending.MAX_NOTE,
                0,
                description="What you want the other person to read with this step. "
                "Required by " + ", ".join(sorted(lending.NOTE_REQUIRED)) + " (a dispute's "
                "reason, a note while disputed, how it was resolved); optional otherwise.",
            )
        ),
        "version": _nullable(
            {
                **ID,
                "description": "The loan's `version` as you last saw it: if the loan has "
                "changed since, the event is refused with 409 conflict.",
            }
        ),
    },
    ("event",),
)

# -- responses ------------------------------------------------------------------

TOKEN = _object(
    {
        "token": {"type": "string"},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer", "description": "Seconds until the token expires."},
    },
    ("token", "token_type", "expires_in"),
)
USER = _object(
    {
        "id": ID,
        "email": {"type": "string"},
        "name": {"type": "string"},
        "state": {"enum": list(account_states.STATES)},
    },
    ("id", "email", "name", "state"),
)
PARTY = _object(
    {"id": ID, "name": {"type": "string"}, "email": {"type": "string"}},
    ("id", "name", "email"),
)
LOAN_SUMMARY_FIELDS = {
    "id": ID,
    "item": {"type": "string"},
    "message": {"type": ["string", "null"]},
    "state": {"enum": list(loan_states.STATES)},
    "role": {"enum": list(loan_states.PARTIES), "description": "Your side of the loan."},
    "lender": PARTY,
    "borrower": PARTY,
    "due_date": _nullable(DATE),
    "created_at": DATE_TIME,
    "version": {
        "type": "integer",
        "description": "Changes with every event; send it back to detect a conflict.",
    },
    "allowed_events": {
        "type": "array",
        "items": {"enum": PARTY_EVENTS},
        "description": "The events you may fire now.",
    },
}
LOAN_SUMMARY = _object(LOAN_SUMMARY_FIELDS, tuple(LOAN_SUMMARY_FIELDS))
AUDIT_EVENT = _object(
    {
        "event": {"type": "string"},
        "from_state": {"type": ["string", "null"]},
        "to_state": {"type": "string"},
        "actor": {
            "oneOf": [PARTY, {"type": "null"}],
            "description": "Who fired it; null for the system (the loan clock).",
        },
        "at": DATE_TIME,
        "note": {
            "type": ["string", "null"],
            "description": "What the actor wrote with the step (a dispute's reason, say).",
        },
    },
    ("event", "from_state", "to_state", "actor", "at", "note"),
)
NOTIFICATION = _object(
    {
        "notifier": {"type": "string"},
        "recipient": {"type": "string", "description": "The address it was sent to."},
        "status": {
            "enum": list(outbox.STATUSES),
            "description": "skipped: decided against when the change was made (for "
            "example, an address already invited that day, or mail its reader turned "
            "off); suppressed: not sent because the address hard-bounced or its owner "
            "marked our mail as spam; digest: held "
            "for its reader's daily digest (sent_at is when that digest was sent).",
        },
        "sent_at": _nullable(DATE_TIME),
        "problem": {
            "type": ["string", "null"],
            "description": "For a failed mail, why, in plain words (e.g. the address "
            "does not exist); otherwise null.",
        },
    },
    ("notifier", "recipient", "status", "sent_at", "problem"),
)
LOAN_FIELDS = {
    **LOAN_SUMMARY_FIELDS,
    "events": {"type": "array", "items": AUDIT_EVENT, "description": "Oldest first."},
    "notifications": {"type": "array", "items": NOTIFICATION, "description": "Oldest first."},
}
LOAN = _object(LOAN_FIELDS, tuple(LOAN_FIELDS))
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
LOAN_LIST = _object(
    {
        "loans": {"type": "array", "items": LOAN_SUMMARY, "description": "Newest first."},
        "next": {
            "type": ["string", "null"],
            "description": "The path of the next page (older loans), with the same limit; "
            "null on the last page.",
        },
        "next_cursor": {
            "type": ["string", "null"],
            "description": "The `cursor` of the next page; null on the last page.",
        },
    },
    ("loans", "next", "next_cursor"),
)
ACCEPTED = _object(
    {"message": {"type": "string", "description": "What happens next, for people."}},
    ("message",),
)
DOCUMENT = {"type": "object", "description": "This OpenAPI 3.1 document."}

SCHEMAS = {
    "TokenRequest": TOKEN_REQUEST,
    "SignUp": SIGN_UP,
    "Confirm": CONFIRM,
    "Resend": RESEND,
    "Accepted": ACCEPTED,
    "NewLoan": NEW_LOAN,
    "LoanEvent": LOAN_EVENT,
    "Token": TOKEN,
    "User": USER,
    "Party": PARTY,
    "LoanSummary": LOAN_SUMMARY,
    "Loan": LOAN,
    "LoanList": LOAN_LIST,
}


def schema_name(schema: dict) -> str | None:
    return next((name for name, s in SCHEMAS.items() if s is schema), None)


# -- errors ---------------------------------------------------------------------


def _service_codes() -> dict[int, list[str]]:
    codes: dict[int, list[str]] = {}
    pending = list(MoochError.__subclasses__())
    while pending:
        cls = pending.pop(0)
        codes.setdefault(cls.status, []).append(cls.code)
        pending += cls.__subclasses__()
    return codes


# The `code` of an error raised by HTTP itself rather than a service: an unknown
# path, a body too large, too many attempts.
HTTP_CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
}

ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON, or a field or query parameter is missing, unknown "
    "or invalid (`field` names it), or the event is unknown.",
    401: "No bearer token, a bad or expired one, or wrong credentials.",
    403: "Not yours to do: the other party's move, or an account that may not get a token.",
    404: "No such loan, or not yours: the same answer either way.",
    409: "Not allowed in the loan's current state (`invalid_state`), or the loan changed "
    "first (`conflict`).",
    413: "The body is larger than the server accepts.",
    415: "The body is not JSON: send Content-Type: application/json.",
    429: "Too many attempts from this client or for this address, too much mail to one "
    "address, or too many loans or new people; `Retry-After` says when to try again.",
}


def error_codes(status: int) -> list[str]:
    codes = list(_service_codes().get(status, []))
    if HTTP_CODES.get(status) and HTTP_CODES[status] not in codes:
        codes.append(HTTP_CODES[status])
    return codes


def error_schema(status: int) -> dict:
    return _object(
        {
            "error": _object(
                {
                    "code": {"enum": error_codes(status)},
                    "message": {"type": "string", "description": "For people."},
                    "field": {"type": "string", "description": "The field at fault."},
                },
                ("code", "message"),
            )
        },
        ("error",),
    )


# -- operations -----------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A query parameter: optional, given at most once, a string or an integer."""

    name: str
    schema: dict
    description: str = ""


@dataclass(frozen=True)
class Operation:
    """One endpoint: what it takes, what it answers, and what may go wrong.

    Errors that follow from the rest are added, not listed: a body brings 400, 413
    and 415; query parameters bring 400; `auth` brings 401; `limited` (counted per
    client) brings 429.
    """

    name: str
    method: str
    path: str
    summary: str
    result: dict
    status: int = 200
    body: dict | None = None
    query: tuple[Query, ...] = ()
    errors: tuple[int, ...] = ()
    auth: bool = True
    limited: bool = False
    description: str = ""

    @property
    def error_statuses(self) -> list[int]:
        statuses = set(self.errors)
        if self.body is not None:
            statuses |= {400, 413, 415}
        if self.query:
            statuses.add(400)
        if self.auth:
            statuses.add(401)
        if self.limited:
            statuses.add(429)
        return sorted(statuses)

    @property
    def rule(self) -> str:
        """The Flask URL rule, relative to PREFIX: `{loan_id}` becomes an int
        converter with the bounds the document gives."""
        rule = self.path
        for name in PATH_PARAMETERS:
            rule = rule.replace(f"{{{name}}}", f"<int(min=1, max={MAX_ID}):{name}>")
        return rule


PATH_PARAMETERS = {"loan_id": {**ID, "description": "The loan's id."}}

OPERATIONS = (
    Operation(
        "create_token",
        "POST",
        "/auth/token",
        "Exchange an active account's email and password for a bearer token",
        TOKEN,
        body=TOKEN_REQUEST,
        errors=(401,),
        auth=False,
        limited=True,
        description="An unknown address, an account not confirmed yet, a closed one and "
        "a wrong password all get the same 401. After RATELIMIT_LOGIN_FAILURES failures "
        "for one address (5 in 15 minutes), every attempt for it gets 429 for a while, "
        "whatever the client. The token stops working when it expires, when the "
        'password changes, on "log out everywhere", or when the account is no longer '
        "active.",
    ),
    Operation(
        "sign_up",
        "POST",
        "/users",
        "Sign up: we email the address a link to confirm it and choose a password",
        ACCEPTED,
        status=202,
        body=SIGN_UP,
        auth=False,
        limited=True,
        description="Answers the same whether or not the address has an account (its "
        "owner is emailed that someone tried). The link is /confirm/<token>: send that "
        "token, with the password you choose, to POST /users/confirm. At most "
        "RATELIMIT_MAIL_PER_ADDRESS mails an hour to one address (429 beyond).",
    ),
    Operation(
        "confirm",
        "POST",
        "/users/confirm",
        "Confirm an address and choose its password, with the token from the emailed "
        "link: the account is active",
        USER,
        body=CONFIRM,
        errors=(409,),
        auth=False,
        limited=True,
        description="Each link works once. A password that is too short, common or "
        "guessable is refused with 400 on `password`, saying why.",
    ),
    Operation(
        "resend_confirmation",
        "POST",
        "/users/confirm/resend",
        "Email a new confirmation link to an account that has not been confirmed yet",
        ACCEPTED,
        status=202,
        body=RESEND,
        auth=False,
        limited=True,
        description="Answers the same whatever the address; only an account waiting to be "
        "confirmed is sent a link.",
    ),
    Operation(
        "list_loans",
        "GET",
        "/loans",
        "The loans you are a party to, newest first, a page at a time",
        LOAN_LIST,
        query=(
            Query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": PAGE_SIZE},
                "How many loans a page holds.",
            ),
            Query(
                "cursor",
                _text(100),
                "Where the page starts: the `next_cursor` of the page before. Opaque; "
                "an edited cursor, or one from before the server's key changed, is a 400.",
            ),
        ),
        description="Follow `next` until it is null. Pages are keyed on the loans "
        "themselves, not counted: loans created while you page do not shift the pages "
        "still to come (they are on the first page).",
    ),
    Operation(
        "create_loan",
        "POST",
        "/loans",
        "Ask to borrow (role borrower) or offer to lend (role lender)",
        LOAN,
        status=201,
        body=NEW_LOAN,
        errors=(429,),
        description="A counterparty address with no account is invited to sign up (one "
        "invitation a day per address). Until the counterparty answers, the loan shows "
        "them by their address. 429 when you have started LOANS_PER_HOUR loans in the "
        "last hour, or named INVITES_PER_DAY addresses you have no loan with in the last "
        "day.",
    ),
    Operation(
        "get_loan",
        "GET",
        "/loans/{loan_id}",
        "One of your loans, with its history and its mail",
        LOAN,
        errors=(404,),
    ),
    Operation(
        "fire_event",
        "POST",
        "/loans/{loan_id}/events",
        "Fire an event on one of your loans",
        LOAN,
        body=LOAN_EVENT,
        errors=(403, 404, 409),
        description="`allowed_events` of the loan lists what you may fire now.",
    ),
    Operation(
        "openapi",
        "GET",
        "/openapi.json",
        "This document",
        DOCUMENT,
        auth=False,
    ),
)

BY_NAME = {op.name: op for op in OPERATIONS}

# -- the document ---------------------------------------------------------------

INFO_DESCRIPTION = """\
Mooch's JSON API: lend things to people you know.

Authenticate with `POST /api/v1/auth/token`, then send `Authorization: Bearer <token>`.
Sign-up, confirm, token and this document need no token.

Every error is `{"error": {"code": "...", "message": "..."}}`, with `field` when one
field is at fault. Bodies are JSON objects with exactly the documented fields (an
unknown field is a 400); their strings may not contain NUL characters or unpaired
surrogates. Dates are YYYY-MM-DD; times are UTC, RFC 3339.
"""


def _ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def _error_name(status: int) -> str:
    return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")


def _json(schema: dict) -> dict:
    name = schema_name(schema)
    return {"application/json": {"schema": _ref("schemas", name) if name else schema}}


def _operation(op: Operation) -> dict:
    success: dict = {"description": HTTPStatus(op.status).phrase, "content": _json(op.result)}
    if op.status == 201:
        success["headers"] = {
            "Location": {"description": "The new resource.", "schema": {"type": "string"}}
        }
    doc: dict = {
        "operationId": op.name,
        "summary": op.summary,
        "responses": {
            str(op.status): success,
            **{str(s): _ref("responses", _error_name(s)) for s in op.error_statuses},
        },
    }
    if op.description:
        doc["description"] = op.description
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": schema}
        for name, schema in PATH_PARAMETERS.items()
        if f"{{{name}}}" in op.path
    ]
    parameters += [
        {
            "name": q.name,
            "in": "query",
            "required": False,
            "description": q.description,
            "schema": q.schema,
        }
        for q in op.query
    ]
    if parameters:
        doc["parameters"] = parameters
    if op.body is not None:
        doc["requestBody"] = {"required": True, "content": _json(op.body)}
    if not op.auth:
        doc["security"] = []
    return doc


def _error_response(status: int) -> dict:
    response: dict = {
        "description": ERROR_DESCRIPTIONS[status],
        "content": {"application/json": {"schema": error_schema(status)}},
    }
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    if status == 429:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}}
        }
    return response


@cache
def document() -> dict:
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        paths.setdefault(PREFIX + op.path, {})[op.method.lower()] = _operation(op)
    statuses = sorted({s for op in OPERATIONS for s in op.error_statuses})
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": "Mooch", "version": "1", "description": INFO_DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "responses": {_error_name(s): _error_response(s) for s in statuses},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
