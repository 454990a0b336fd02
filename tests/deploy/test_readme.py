"""deploy/README.md: it maps every god rule, and quotes only unit lines, worker
options and variables that exist."""

from __future__ import annotations

import re
import shlex

from tests.deploy.support import ROOT, read_by_code, source_text, worker_options
from tests.deploy.systemd import UNIT_FILES, unit, value

# The rules of the god watch that ran the worker of the app Mooch grew from, as named
# in its config (deploy/README.md lists them).
GOD_RULES = (
    "interval",
    "start",
    "stop",
    "restart",
    "start_grace",
    "restart_grace",
    "pid_file",
    "clean_pid_file",
    "uid",
    "gid",
    "init",
    "tries",
    "process_exits",
    "memory_usage",
    "cpu_usage",
    "flapping",
    "retry_in",
    "retry_times",
    "retry_within",
    "contact",
)


def readme(code_blocks: bool = True) -> str:
    text = (ROOT / "deploy" / "README.md").read_text()
    return text if code_blocks else re.sub(r"```.*?```", "", text, flags=re.S)


def god_table_rows() -> list[list[str]]:
    """The rows of the table under "## The god watch" (the README has other tables)."""
    rows = []
    section = readme().split("## The god watch", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        if line.startswith("|") and not re.fullmatch(r"[|\s:-]+", line):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # the header


def test_readme_maps_every_god_rule():
    first_column = " ".join(row[0] for row in god_table_rows())
    named = set(re.findall(r"`([a-z_]+)`", first_column))
    missing = [rule for rule in GOD_RULES if rule not in named]
    assert missing == [], f"god rules with no row in deploy/README.md: {missing}"
    assert all(len(row) == 3 and all(row) for row in god_table_rows())


def test_readme_quotes_unit_lines_that_exist():
    """Every `Key=value` the README quotes is a line of a shipped unit."""
    lines = set()
    keys = set()
    for name in UNIT_FILES:
        for section in unit(name).values():
            lines.update(f"{k}={v}" for k, v in section)
            keys.update(k for k, _ in section)
    quoted = re.findall(r"`([A-Z][A-Za-z]+=[^`\n]*)`", readme(code_blocks=False))
    assert quoted
    for text in quoted:
        key, _, rest = text.partition("=")
        if not rest or "<" in rest:  # the key alone, or a placeholder
            assert key in keys, f"README names {key}=, which no unit sets"
        else:
            assert text in lines, f"README quotes `{text}`, which no unit has"


def test_readme_quotes_worker_options_and_variables_that_exist():
    options = set()
    for span in re.findall(r"`([^`\n]+)`", readme(code_blocks=False)):
        if span.startswith("--") or "worker.py" in span:
            options.update(re.findall(r"(--[a-z][a-z-]+)", span))
    assert {"--processes", "--max-memory-mb", "--flap-limit"} <= options
    # An option worker.py does not have is gunicorn's, as the web unit runs it.
    web = shlex.split(value(unit("mooch-web.service"), "Service", "ExecStart"))
    assert options - worker_options() <= set(web)
    text = source_text()
    variables = set(re.findall(r"`((?:WORKER|LOG|MAIL)_[A-Z_]+)`", readme(code_blocks=False)))
    assert variables and all(read_by_code(v, text) for v in variables), variables
