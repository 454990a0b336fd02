"""The Procfile (Heroku, honcho): its three processes, and commands that run."""

from __future__ import annotations

import re
import shlex

import pytest

from tests.deploy.support import (
    ROOT,
    VENV_BIN,
    names_a_real_target,
    procfile,
    runs_in_checkout,
)


def test_procfile_has_exactly_web_worker_and_release():
    assert list(procfile()) == ["web", "worker", "release"]


@pytest.mark.parametrize("process", ["web", "worker", "release"])
def test_procfile_commands_name_what_exists(process):
    command = procfile()[process]
    names_a_real_target(command)
    program = shlex.split(command)[0]
    if program != "python":
        # Heroku installs requirements.txt only: the program must come from it.
        requirements = (ROOT / "requirements.txt").read_text().lower()
        assert re.search(rf"^{program}\b", requirements, re.M), f"{program} not in requirements"
        assert (VENV_BIN / program).exists()


def test_procfile_worker_starts_worker_py():
    words = shlex.split(procfile()["worker"])
    assert words[:2] == ["python", "worker.py"]


def test_procfile_web_serves_wsgi_app_on_port():
    command = procfile()["web"]
    assert shlex.split(command)[0] == "gunicorn"
    assert "${PORT" in command  # Heroku's router connects to $PORT
    assert shlex.split(command)[-1] == "wsgi:app"


def test_procfile_web_command_loads_the_app(tmp_path):
    """The Procfile's own web line, through a shell as Heroku and honcho run it, with
    gunicorn's --check-config: it imports wsgi.py and builds the app, then exits."""
    runs_in_checkout(["sh", "-c", procfile()["web"] + " --check-config"], tmp_path)


def test_procfile_worker_command_parses_its_options(tmp_path):
    done = runs_in_checkout(["sh", "-c", procfile()["worker"] + " --help"], tmp_path)
    assert "--processes" in done.stdout


def test_procfile_release_command_migrates_a_fresh_database(tmp_path):
    runs_in_checkout(["sh", "-c", procfile()["release"]], tmp_path, timeout=180)
    assert (tmp_path / "mooch.db").stat().st_size > 0
