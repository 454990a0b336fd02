"""What the deploy tests share: the checkout's files (Procfile, app.json, the code
that reads settings) and the checks that a command names something real."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from honcho.environ import parse_procfile

ROOT = Path(__file__).resolve().parent.parent.parent
INSTALL_ROOT = "/srv/mooch"  # WorkingDirectory= of the units; the repository here
VENV_BIN = Path(sys.executable).parent


def procfile() -> dict[str, str]:
    return dict(parse_procfile((ROOT / "Procfile").read_text()).processes)


def app_json() -> dict:
    return json.loads((ROOT / "app.json").read_text())


def source_text() -> str:
    """The code that reads settings: config.py, worker.py, wsgi.py and app/."""
    files = [ROOT / "config.py", ROOT / "worker.py", ROOT / "wsgi.py"]
    files += sorted((ROOT / "app").rglob("*.py"))
    return "\n".join(p.read_text() for p in files if p.exists())


def read_by_code(name: str, text: str) -> bool:
    return re.search(rf"""["']{re.escape(name)}["']""", text) is not None


def worker_options() -> set[str]:
    return set(re.findall(r"""["'](--[a-z][a-z-]*)["']""", (ROOT / "worker.py").read_text()))


def in_repo(path: str) -> Path:
    """A path under the units' install root, in this checkout."""
    assert path.startswith(INSTALL_ROOT + "/"), f"{path} is not under {INSTALL_ROOT}"
    return ROOT / path[len(INSTALL_ROOT) + 1 :]


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    """An environment for the app in a subprocess: its own SQLite file, and a Redis
    address nothing listens on (building the app must not need Redis)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "WORKER_"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        DATABASE_URL=f"sqlite:///{tmp_path / 'mooch.db'}",
        REDIS_URL="redis://127.0.0.1:9/0",
        SECRET_KEY="test",
        LOG_FORMAT="json",
        PORT="0",
    )
    return env


def names_a_real_target(command: str) -> None:
    """What a command runs exists here: its program, and the script, module or app it
    is given."""
    words = shlex.split(command)
    program = words[0].rsplit("/", 1)[-1]
    if words[0].startswith(INSTALL_ROOT + "/"):
        assert in_repo(words[0]).exists(), f"{words[0]} is not in this checkout's venv"
    if program.startswith("python"):
        assert (ROOT / words[1]).is_file(), f"{words[1]} does not exist"
    elif program == "gunicorn":
        module, _, attribute = words[-1].partition(":")
        path = ROOT / (module.replace(".", "/") + ".py")
        assert path.is_file(), f"gunicorn's app module {module} does not exist"
        name = attribute.split("(")[0]
        assert re.search(rf"^(def )?{name}\b", path.read_text(), re.M), f"no {name} in {path}"
    elif program == "flask":
        package = words[words.index("--app") + 1]
        assert (ROOT / package / "__init__.py").is_file() or (ROOT / f"{package}.py").is_file()
    else:
        pytest.fail(f"unexpected program {program!r} in {command!r}")


def runs_in_checkout(
    command: list[str], tmp_path: Path, timeout: float = 120
) -> subprocess.CompletedProcess:
    """`command` run from this checkout with the tests' environment; it must exit 0."""
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def worker_help_parses(words: list[str], tmp_path: Path) -> None:
    """`python worker.py <words> --help` exits 0: argparse checks every option before
    it prints the help, so an option worker.py does not have fails here."""
    runs_in_checkout([sys.executable, *words, "--help"], tmp_path)
