"""A JSON client over Flask's test client that checks every response it gets
against the OpenAPI document: the status is one the operation lists, and the body
matches that status's schema. So every test of the API also tests the document."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, FormatChecker
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.test import TestResponse

from app.accounts import service as accounts
from app.api import spec
from app.models import User

FORMATS = FormatChecker()


def check_against_document(app: Flask, method: str, path: str, response: TestResponse) -> None:
    assert response.mimetype == "application/json", (response.status, response.data[:200])
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(path, method=method)
    except (NotFound, MethodNotAllowed):
        endpoint = None
    op = spec.BY_NAME.get(endpoint.removeprefix("api.")) if endpoint else None
    if op is None:
        # Not an operation (an unknown path or method): only the error's shape is promised.
        assert response.status_code in (404, 405), response.status
        schema = spec.error_schema(404)["properties"]["error"]
        schema = {**schema, "properties": {**schema["properties"], "code": {"type": "string"}}}
        Draft202012Validator(schema).validate(response.json["error"])
        return
    status = response.status_code
    assert status == op.status or status in op.error_statuses, (
        f"{method} {path}: {status} is not in the document ({op.status}, {op.error_statuses})"
        f": {response.json}"
    )
    schema = op.result if status == op.status else spec.error_schema(status)
    Draft202012Validator(schema, format_checker=FORMATS).validate(response.json)


class Api:
    """`api.post("/loans", {...}, as_=lena)` → the response, checked against the document."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        self.client = client

    def token(self, user: User) -> str:
        return accounts.log_in(user, "api")

    def call(
        self,
        method: str,
        path: str,
        json: object = None,
        *,
        as_: User | None = None,
        headers: dict | None = None,
        check: bool = True,
        **kwargs,
    ) -> TestResponse:
        headers = dict(headers or {})
        if as_ is not None:
            headers["Authorization"] = f"Bearer {self.token(as_)}"
        if json is not None:
            kwargs["json"] = json
        url = spec.PREFIX + path
        response = self.client.open(url, method=method, headers=headers, **kwargs)
        if check:
            check_against_document(self.app, method, url, response)
        return response

    def get(self, path: str, **kwargs) -> TestResponse:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, json: object = None, **kwargs) -> TestResponse:
        return self.call("POST", path, json, **kwargs)
