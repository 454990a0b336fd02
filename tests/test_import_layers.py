"""Lending depends on accounts, never the other way round.

Accounts tells of an account closing through app.accounts.signals and lending
subscribes; no import of app.lending anywhere in app.accounts, at module level or
hidden inside a function.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str) -> dict[str, set[tuple[str, bool]]]:
    """Every module of `package` → the app modules it imports, each with whether the
    import sits inside a function (a hidden edge)."""
    found: dict[str, set[tuple[str, bool]]] = {}
    for path in sorted((ROOT / package.replace(".", "/")).glob("*.py")):
        module = f"{package}.{path.stem}".removesuffix(".__init__")
        tree = ast.parse(path.read_text(), str(path))
        found[module] = set(_walk(tree, in_function=False))
    return found


def _walk(node: ast.AST, *, in_function: bool):
    """(imported module, whether inside a function) for every import under `node`."""
    for child in ast.iter_child_nodes(node):
        nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
        if isinstance(child, ast.Import):
            yield from ((alias.name, nested) for alias in child.names)
        elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
            yield child.module, nested
            # `from app.lending import service` names a module too
            yield from ((f"{child.module}.{alias.name}", nested) for alias in child.names)
        yield from _walk(child, in_function=nested)


def _into(edges: set[tuple[str, bool]], package: str) -> set[tuple[str, bool]]:
    return {(name, nested) for name, nested in edges if name.split(".")[:2] == package.split(".")}


def test_accounts_never_imports_lending():
    offending = {
        module: sorted(_into(edges, "app.lending"))
        for module, edges in _imports("app.accounts").items()
        if _into(edges, "app.lending")
    }
    assert offending == {}


def test_no_function_level_import_between_accounts_and_lending():
    hidden = {
        module: sorted(name for name, nested in _into(edges, other) if nested)
        for package, other in (("app.accounts", "app.lending"), ("app.lending", "app.accounts"))
        for module, edges in _imports(package).items()
        if any(nested for _, nested in _into(edges, other))
    }
    assert hidden == {}


def _fresh(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "modules",
    [
        ["app.accounts.service"],
        ["app.lending.service"],
        ["app.accounts.service", "app.lending.service"],
        ["app.lending.service", "app.accounts.service"],
        ["app.lending.states", "app.accounts.service", "app.lending.mail_view"],
    ],
)
def test_each_imports_in_a_fresh_interpreter(modules):
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    done = _fresh(code)
    assert done.returncode == 0, done.stderr


def test_accounts_loads_no_lending_module():
    done = _fresh(
        "import sys, app.accounts.service\n"
        "print(sorted(m for m in sys.modules if m.startswith('app.lending')))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_closing_with_nobody_subscribed_is_a_wiring_error_not_a_quiet_skip():
    done = _fresh(
        "from app.accounts import signals\n"
        "try:\n"
        "    signals.send(signals.closed, object())\n"
        "except RuntimeError as exc:\n"
        "    print('refused', exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused")


def test_the_app_wires_lending_to_account_closing(app):
    from app.accounts import signals
    from app.lending import service as lending

    closing = set(signals.closing.receivers_for(object()))
    closed = set(signals.closed.receivers_for(object()))
    assert lending._refuse_while_loans_under_way in closing
    assert lending._call_off_when_closed in closed
