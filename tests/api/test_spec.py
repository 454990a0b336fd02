"""The OpenAPI document: valid OpenAPI 3.1, served as built, and describing
exactly the routes the app has under /api/v1."""

from __future__ import annotations

import re

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from app.api import spec
from app.errors import MoochError
from app.lending.states import LOAN


def test_the_document_is_valid_openapi_3_1():
    document = spec.document()
    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_it_is_served_as_built(api):
    response = api.get("/openapi.json")
    assert response.status_code == 200
    assert response.json == spec.document()


def _routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(spec.PREFIX + "/"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((_openapi_path(rule.rule), method.lower()))
    return routes


def _openapi_path(rule: str) -> str:
    # "/loans/<int(min=1, max=2147483647):loan_id>" → "/loans/{loan_id}"
    return re.sub(r"<(?:[^:>]+:)?([a-z_]+)>", r"{\1}", rule)


def test_the_document_has_exactly_the_apps_routes(app):
    documented = {
        (path, method) for path, methods in spec.document()["paths"].items() for method in methods
    }
    assert documented == _routes(app)
    assert len(documented) == 9


def test_path_parameters_are_bounded_as_the_routes_are(app):
    [rule] = [r for r in app.url_map.iter_rules() if r.endpoint == "api.get_loan"]
    converter = rule._converters["loan_id"]
    [parameter] = spec.document()["paths"]["/api/v1/loans/{loan_id}"]["get"]["parameters"]
    assert (converter.min, converter.max) == (
        parameter["schema"]["minimum"],
        parameter["schema"]["maximum"],
    )


def test_every_object_says_whether_it_takes_more_fields():
    def objects(schema):
        if isinstance(schema, dict):
            if schema.get("type") == "object" and "properties" in schema:
                yield schema
            for value in schema.values():
                yield from objects(value)
        elif isinstance(schema, list):
            for value in schema:
                yield from objects(value)

    found = list(objects(spec.document()))
    assert len(found) > 10
    assert all(schema["additionalProperties"] is False for schema in found)


def test_every_error_a_service_can_raise_is_documented():
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    for cls in subclasses(MoochError):
        assert cls.code in spec.error_codes(cls.status), cls


def test_the_events_a_client_may_send_are_the_party_events_of_the_table():
    assert set(spec.PARTY_EVENTS) == {
        "accept",
        "decline",
        "cancel",
        "hand_over",
        "mark_returned",
        "confirm_return",
        "dispute",
        "add_note",
        "resolve",
    }
    system_only = LOAN.events - set(spec.PARTY_EVENTS)
    assert system_only == {"create", "expire", "remind", "mark_overdue"}


def test_the_schemas_are_themselves_valid():
    for schema in spec.SCHEMAS.values():
        Draft202012Validator.check_schema(schema)
