"""The attacks of the trust issue, each run as it was reported: the web pages through
test browsers (tests/web/conftest.py), the API through its checked client."""

from __future__ import annotations

import pytest

from tests.api.client import Api
from tests.web.conftest import browser, client  # noqa: F401  (fixtures, re-exported)


@pytest.fixture
def api(app) -> Api:
    return Api(app, app.test_client())
