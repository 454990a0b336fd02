"""Fixtures for the API tests: `api`, a JSON client whose every response is checked
against the OpenAPI document (tests/api/client.py)."""

from __future__ import annotations

import pytest

from tests.api.client import Api


@pytest.fixture
def api(app) -> Api:
    return Api(app, app.test_client())
