"""One module decides the format of an error (JSON under /api/, an HTML page
elsewhere); the JSON and the HTML modules do not know of each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app import create_app
from app.errors import NotFound, TooMany, Unavailable
from app.extensions import db

APP = Path(__file__).resolve().parent.parent / "app"


def imports(path: Path) -> tuple[set[str], list[int]]:
    """The modules a file imports, and the lines of any import inside a function."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    nested: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            names |= {module} if module else {alias.name for alias in node.names}
            if isinstance(node, ast.ImportFrom):
                names |= {f"{module}.{alias.name}" for alias in node.names}
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nested += [
                inner.lineno
                for inner in ast.walk(node)
                if isinstance(inner, ast.Import | ast.ImportFrom)
            ]
    return names, nested


@pytest.mark.parametrize(
    ("path", "other"), [("api/errors.py", "app.web"), ("web/errors.py", "app.api")]
)
def test_the_json_and_html_error_modules_do_not_import_each_other(path, other):
    names, nested = imports(APP / path)
    assert not [name for name in names if name == other or name.startswith(other + ".")]
    assert nested == [], f"{path}: imports inside functions at lines {nested}"


@pytest.fixture
def raising(settings):
    """An app with routes outside any blueprint that raise typed errors: only the
    app-wide handlers can answer them."""
    settings["TESTING"] = False
    application = create_app(settings)
    errors = {
        "missing": NotFound("No such thing."),
        "busy": TooMany("Slow down.", retry_after=30),
        "down": Unavailable("Not now.", retry_after=7),
    }

    def raise_it(name: str):
        raise errors[name]

    application.add_url_rule("/api/v1/raise/<name>", "raise_api", raise_it)
    application.add_url_rule("/raise/<name>", "raise_page", raise_it)
    with application.app_context():
        yield application.test_client()
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


@pytest.mark.parametrize(
    ("name", "status", "retry_after"),
    [("missing", 404, None), ("busy", 429, "30"), ("down", 503, "7")],
)
def test_a_typed_error_outside_any_blueprint_is_json_or_a_page_by_path(
    raising, name, status, retry_after
):
    api = raising.get(f"/api/v1/raise/{name}")
    assert (api.status_code, api.mimetype) == (status, "application/json")
    assert set(api.json) == {"error"}
    page = raising.get(f"/raise/{name}")
    assert (page.status_code, page.mimetype) == (status, "text/html")
    assert api.headers.get("Retry-After") == page.headers.get("Retry-After") == retry_after
