"""The shipped process-manager files: Procfile, app.json, deploy/systemd/, deploy/README.md.

Each is checked for syntax and for agreeing with the code: the commands name files
that exist and options worker.py has, every variable set is one the code reads, the
systemd limits fit the worker's own, and the README maps every rule of the origin
story's god watch. `systemd-analyze verify` runs when it is installed.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from honcho.environ import parse_procfile

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "deploy" / "systemd"
INSTALL_ROOT = "/srv/mooch"  # WorkingDirectory= of the units; the repository here
VENV_BIN = Path(sys.executable).parent

SERVICES = ("mooch-web.service", "mooch-worker.service")
UNIT_FILES = sorted(
    p.name for p in SYSTEMD.iterdir() if p.suffix in {".service", ".target", ".timer"}
)

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


# -- helpers ---------------------------------------------------------------------------


def procfile() -> dict[str, str]:
    return dict(parse_procfile((ROOT / "Procfile").read_text()).processes)


def app_json() -> dict:
    return json.loads((ROOT / "app.json").read_text())


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit file: sections, each a list of (key, value) in order (a key may
    repeat, as ExecStart= does in a oneshot). Comments, blank lines and backslash
    continuations as systemd.syntax(7) has them; anything else is an error."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    pending = ""
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = pending + raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            assert current not in sections, f"{path.name}:{number}: [{current}] twice"
            sections[current] = []
            continue
        assert current is not None, f"{path.name}:{number}: a setting outside any section"
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key.strip()), (
            f"{path.name}:{number}: not Key=value: {raw!r}"
        )
        sections[current].append((key.strip(), value.strip()))
    assert not pending, f"{path.name}: ends in a continuation"
    return sections


def unit(name: str) -> dict[str, list[tuple[str, str]]]:
    return parse_unit(SYSTEMD / name)


def values(sections, section: str, key: str) -> list[str]:
    return [v for k, v in sections.get(section, []) if k == key]


def value(sections, section: str, key: str) -> str:
    found = values(sections, section, key)
    assert found, f"no {key}= in [{section}]"
    return found[-1]


TIME_UNITS = {
    "us": 1e-6,
    "ms": 1e-3,
    "": 1,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}


def seconds(span: str) -> float:
    """A systemd time span (systemd.time(7)): "300", "10s", "5min", "1min 30s", "2h"."""
    if span == "infinity":
        return math.inf
    parts = re.findall(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)", span)
    assert parts and "".join(n + u for n, u in parts) == span.replace(" ", ""), (
        f"not a time span: {span!r}"
    )
    total = 0.0
    for number, unit_name in parts:
        assert unit_name in TIME_UNITS, f"unknown time unit in {span!r}"
        total += float(number) * TIME_UNITS[unit_name]
    return total


def megabytes(size: str) -> float:
    """A systemd memory size (systemd.resource-control(5)): bytes, or K/M/G/T (base 1024)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", size)
    assert match, f"not a memory size: {size!r}"
    number, suffix = float(match[1]), match[2]
    return number * 1024 ** "BKMGT".index(suffix or "B") / 1024**2


def percent(quota: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)%", quota)
    assert match, f"not a percentage: {quota!r}"
    return float(match[1])


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


# -- Procfile --------------------------------------------------------------------------


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
    done = subprocess.run(
        ["sh", "-c", procfile()["web"] + " --check-config"],
        cwd=ROOT,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_procfile_worker_command_parses_its_options(tmp_path):
    done = subprocess.run(
        ["sh", "-c", procfile()["worker"] + " --help"],
        cwd=ROOT,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--processes" in done.stdout


def test_procfile_release_command_migrates_a_fresh_database(tmp_path):
    env = subprocess_env(tmp_path)
    done = subprocess.run(
        ["sh", "-c", procfile()["release"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "mooch.db").stat().st_size > 0


# -- app.json --------------------------------------------------------------------------

# The parts of Heroku's app.json schema (devcenter.heroku.com/articles/app-json-schema)
# that this file uses, strictly: an unknown key or a wrong type is an error.
APP_JSON_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 3, "maxLength": 30},
        "description": {"type": "string", "maxLength": 140},
        "keywords": {"type": "array", "items": {"type": "string"}},
        "website": {"type": "string"},
        "repository": {"type": "string"},
        "logo": {"type": "string"},
        "success_url": {"type": "string"},
        "scripts": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"postdeploy": {"type": "string"}, "pr-predestroy": {"type": "string"}},
        },
        "env": {
            "type": "object",
            "additionalProperties": False,
            "patternProperties": {
                "^[A-Z][A-Z0-9_]*$": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "description": {"type": "string"},
                        "value": {"type": "string"},
                        "required": {"type": "boolean"},
                        "generator": {"enum": ["secret"]},
                    },
                }
            },
        },
        "formation": {
            "type": "object",
            "additionalProperties": False,
            "patternProperties": {
                "^[a-zA-Z0-9_-]+$": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["quantity"],
                    "properties": {
                        "quantity": {"type": "integer", "minimum": 0},
                        "size": {"type": "string"},
                    },
                }
            },
        },
        "addons": {
            "type": "array",
            "items": {
                "oneOf": [
                    {"type": "string"},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["plan"],
                        "properties": {
                            "plan": {"type": "string"},
                            "as": {"type": "string"},
                            "options": {"type": "object"},
                        },
                    },
                ]
            },
        },
        "buildpacks": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["url"],
                "properties": {"url": {"type": "string"}},
            },
        },
        "stack": {"type": "string"},
        "image": {"type": "string"},
        "environments": {"type": "object"},
    },
}


def test_app_json_follows_herokus_schema():
    jsonschema.validate(app_json(), APP_JSON_SCHEMA)


def test_app_json_has_postgres_and_redis_addons_named_as_config_reads_them():
    addons = {
        (a if isinstance(a, str) else a["plan"]).split(":")[0]: a for a in app_json()["addons"]
    }
    assert set(addons) == {"heroku-postgresql", "heroku-redis"}
    # Their config vars are <as>_URL: the names config.py reads.
    text = (ROOT / "config.py").read_text()
    for plan, variable in (("heroku-postgresql", "DATABASE_URL"), ("heroku-redis", "REDIS_URL")):
        addon = addons[plan]
        if isinstance(addon, dict) and "as" in addon:
            assert addon["as"] + "_URL" == variable
        assert read_by_code(variable, text)


def test_app_json_formation_matches_the_procfile():
    """Every long-running process type, one each; release is Heroku's release phase,
    never scaled."""
    formation = app_json()["formation"]
    assert set(formation) == set(procfile()) - {"release"}
    assert {name: f["quantity"] for name, f in formation.items()} == {"web": 1, "worker": 1}


def test_app_json_uses_the_python_buildpack():
    assert app_json()["buildpacks"] == [{"url": "heroku/python"}]


def test_app_json_sets_only_variables_the_code_reads():
    text = source_text()
    unread = [name for name in app_json()["env"] if not read_by_code(name, text)]
    assert unread == [], f"app.json sets variables no code reads: {unread}"


def test_app_json_asks_for_secrets_and_mail_settings():
    env = app_json()["env"]
    assert env["SECRET_KEY"].get("generator") == "secret"
    # A variable with no value is required (the default in app.json): Heroku asks for it.
    for name in (
        "BASE_URL",
        "MAIL_SERVER",
        "MAIL_USERNAME",
        "MAIL_PASSWORD",
        "MAIL_DEFAULT_SENDER",
    ):
        assert "value" not in env[name] and env[name].get("required", True), name
    assert env["LOG_FORMAT"]["value"] == "json"
    # Heroku counts any exit of a dyno's command as a crash: worker caps need the supervisor.
    assert int(env["WORKER_PROCESSES"]["value"]) > 1
    # Heroku sends SIGKILL 30 s after SIGTERM.
    assert float(env["WORKER_SHUTDOWN_GRACE"]["value"]) < 30


# -- systemd ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", UNIT_FILES)
def test_unit_files_parse(name):
    sections = unit(name)
    assert "Unit" in sections and value(sections, "Unit", "Description")


@pytest.mark.parametrize("name", SERVICES)
def test_services_have_the_watch_rules(name):
    sections = unit(name)
    # Flapping: a 6th start within 5 minutes is refused. These are [Unit] settings;
    # in [Service] current systemd ignores them.
    assert seconds(value(sections, "Unit", "StartLimitIntervalSec")) == 300
    assert int(value(sections, "Unit", "StartLimitBurst")) == 5
    assert not values(sections, "Service", "StartLimitIntervalSec")
    assert value(sections, "Unit", "OnFailure") == "mooch-retry@%n.service"

    assert value(sections, "Service", "Restart") == "always"
    assert seconds(value(sections, "Service", "RestartSec")) == 10
    assert seconds(value(sections, "Service", "RestartMaxDelaySec")) >= 10
    assert int(value(sections, "Service", "RestartSteps")) >= 1
    assert value(sections, "Service", "KillSignal") == "SIGTERM"
    assert value(sections, "Service", "KillMode") == "mixed"
    assert 0 < seconds(value(sections, "Service", "TimeoutStopSec")) < math.inf
    assert megabytes(value(sections, "Service", "MemoryHigh")) < megabytes(
        value(sections, "Service", "MemoryMax")
    )
    assert 0 < percent(value(sections, "Service", "CPUQuota")) <= 100
    assert value(sections, "Service", "User") != "root"
    assert value(sections, "Service", "WorkingDirectory") == INSTALL_ROOT
    assert value(sections, "Service", "EnvironmentFile").startswith("/")


@pytest.mark.parametrize("name", UNIT_FILES)
def test_unit_values_are_well_formed(name):
    for section, settings in unit(name).items():
        for key, text in settings:
            if key.endswith("Sec"):
                seconds(text)
            elif key in {"MemoryMax", "MemoryHigh", "MemoryLow", "MemoryMin"}:
                megabytes(text)
            elif key == "CPUQuota":
                percent(text)
            elif key in {"StartLimitBurst", "RestartSteps"}:
                assert text.isdigit(), f"{name} [{section}] {key}={text}"
            elif key in {"Restart"}:
                assert text in {"no", "always", "on-success", "on-failure", "on-abnormal"}
            elif key in {"KillMode"}:
                assert text in {"control-group", "mixed", "process", "none"}
            elif key in {"Type"}:
                assert text in {"simple", "exec", "forking", "oneshot", "notify", "idle"}
            elif key in {"NoNewPrivileges", "PrivateTmp", "RemainAfterExit"}:
                assert text in {"yes", "no", "true", "false"}


def exec_lines(sections) -> list[str]:
    return [
        v.lstrip("-@:+!")
        for k, v in sections.get("Service", [])
        if k in {"ExecStart", "ExecStartPre", "ExecStartPost", "ExecReload", "ExecStop"}
    ]


@pytest.mark.parametrize("name", [n for n in UNIT_FILES if n.endswith(".service")])
def test_exec_lines_run_what_exists(name):
    """Commands under /srv/mooch name this checkout's venv and files; other programs
    are absolute paths (systemd does not search a PATH of ours)."""
    for command in exec_lines(unit(name)):
        program = shlex.split(command)[0]
        assert program.startswith("/"), f"{name}: {program} is not an absolute path"
        if program.startswith(INSTALL_ROOT + "/"):
            names_a_real_target(command)


def worker_exec_start() -> list[str]:
    return shlex.split(value(unit("mooch-worker.service"), "Service", "ExecStart"))


def option(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


def test_worker_unit_starts_worker_py_with_options_it_has():
    words = worker_exec_start()
    assert words[0] == f"{INSTALL_ROOT}/.venv/bin/python"
    assert words[1] == "worker.py"
    unknown = {w for w in words if w.startswith("--")} - worker_options()
    assert not unknown, f"options worker.py does not have: {unknown}"


def test_worker_unit_options_parse(tmp_path):
    """The unit's command line, with --help: argparse checks every option before it."""
    words = worker_exec_start()
    done = subprocess.run(
        [sys.executable, *words[1:], "--help"],
        cwd=ROOT,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_worker_unit_limits_fit_the_workers_own():
    sections = unit("mooch-worker.service")
    words = worker_exec_start()
    processes = int(option(words, "--processes"))
    per_worker = float(option(words, "--max-memory-mb"))
    grace = float(option(words, "--grace"))
    # More than one process: the supervisor handles the memory and job caps inside the
    # unit, so a cap is not a start that counts against the start limit.
    assert processes > 1
    assert per_worker == 100  # god: memory_usage above 100 MB
    # Every worker at its cap, plus a job's worth over it and the supervisor.
    assert megabytes(value(sections, "Service", "MemoryHigh")) >= processes * per_worker + 50
    assert megabytes(value(sections, "Service", "MemoryMax")) >= processes * per_worker + 100
    assert percent(value(sections, "Service", "CPUQuota")) == 50  # god: cpu_usage 50 %
    # The supervisor kills a worker 5 s after its grace; systemd waits for both.
    assert seconds(value(sections, "Service", "TimeoutStopSec")) > grace + 5


def test_web_unit_serves_wsgi_app_and_stops_within_its_timeout():
    sections = unit("mooch-web.service")
    words = shlex.split(value(sections, "Service", "ExecStart"))
    assert words[0] == f"{INSTALL_ROOT}/.venv/bin/gunicorn" and words[-1] == "wsgi:app"
    graceful = float(option(words, "--graceful-timeout"))
    assert seconds(value(sections, "Service", "TimeoutStopSec")) > graceful


def test_web_unit_command_loads_the_app(tmp_path):
    """The unit's gunicorn command line, run from this checkout with --check-config."""
    words = shlex.split(value(unit("mooch-web.service"), "Service", "ExecStart"))
    done = subprocess.run(
        [str(in_repo(words[0])), *words[1:], "--check-config"],
        cwd=ROOT,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def restart_delays(sections, count: int, backoff: bool) -> list[float]:
    """systemd's delay before each automatic restart: RestartSec, growing geometrically
    over RestartSteps to RestartMaxDelaySec (systemd >= 254; older ones: RestartSec)."""
    base = seconds(value(sections, "Service", "RestartSec"))
    if not backoff:
        return [base] * count
    steps = int(value(sections, "Service", "RestartSteps"))
    top = seconds(value(sections, "Service", "RestartMaxDelaySec"))
    return [base * (top / base) ** (min(n, steps) / steps) for n in range(count)]


@pytest.mark.parametrize("backoff", [True, False], ids=["systemd>=254", "older"])
@pytest.mark.parametrize("name", SERVICES)
def test_a_crash_loop_still_hits_the_start_limit(name, backoff):
    """A process that dies at once: the start after StartLimitBurst falls inside
    StartLimitIntervalSec, so the unit ends failed (god: flapping -> unmonitored)
    instead of restarting forever, backoff or not."""
    sections = unit(name)
    burst = int(value(sections, "Unit", "StartLimitBurst"))
    interval = seconds(value(sections, "Unit", "StartLimitIntervalSec"))
    refused_start_at = sum(restart_delays(sections, burst, backoff))
    assert refused_start_at < interval


def test_retry_unit_waits_ten_minutes_and_retries_five_times_in_two_hours():
    sections = unit("mooch-retry@.service")
    assert seconds(value(sections, "Unit", "StartLimitIntervalSec")) == 2 * 3600
    assert int(value(sections, "Unit", "StartLimitBurst")) == 5
    assert value(sections, "Service", "Type") == "oneshot"
    commands = [shlex.split(c) for c in exec_lines(sections)]
    assert Path(commands[0][0]).name == "sleep" and seconds(commands[0][1]) == 600
    assert Path(commands[-1][0]).name == "systemctl" and commands[-1][1] == "start"
    assert commands[-1][-1] == "%i"
    assert seconds(value(sections, "Service", "TimeoutStartSec")) > 600


def test_units_only_name_units_that_are_shipped_or_systemds_own():
    shipped = set(UNIT_FILES)
    for name in UNIT_FILES:
        for section in unit(name).values():
            for key, text in section:
                if key not in {"Wants", "Requires", "After", "Before", "PartOf", "OnFailure"}:
                    continue
                for other in text.split():
                    if not other.startswith("mooch"):
                        continue
                    template = re.sub(r"@.+\.service$", "@.service", other)
                    assert other in shipped or template in shipped, f"{name}: {other}"


def test_the_target_starts_everything():
    wants = set(" ".join(values(unit("mooch.target"), "Unit", "Wants")).split())
    assert wants == {
        "mooch-release.service",
        "mooch-web.service",
        "mooch-worker.service",
        "mooch-check.timer",
    }
    assert value(unit("mooch.target"), "Install", "WantedBy") == "multi-user.target"


def test_the_check_runs_worker_status():
    words = shlex.split(value(unit("mooch-check.service"), "Service", "ExecStart"))
    assert words[1:3] == ["worker.py", "status"]
    assert seconds(value(unit("mooch-check.timer"), "Timer", "OnUnitActiveSec")) <= 60


def test_environment_file_example_sets_only_variables_the_code_reads():
    text = source_text()
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", (SYSTEMD / "mooch.env.example").read_text(), re.M)
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "BASE_URL", "MAIL_SERVER"} <= set(names)
    unread = [name for name in names if not read_by_code(name, text)]
    assert unread == [], f"mooch.env.example sets variables no code reads: {unread}"


def systemd_version() -> int:
    done = subprocess.run(
        ["systemd-analyze", "--version"], capture_output=True, text=True, timeout=30
    )
    match = re.search(r"systemd (\d+)", done.stdout)
    return int(match[1]) if match else 0


def test_systemd_analyze_verify(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    # The units as installed, but pointing at this checkout, so that verify finds
    # the programs they run.
    for path in SYSTEMD.iterdir():
        text = path.read_text().replace(INSTALL_ROOT, str(ROOT))
        text = text.replace("/etc/mooch/mooch.env", str(tmp_path / "mooch.env"))
        (tmp_path / path.name).write_text(text)
    (tmp_path / "mooch.env").write_text((SYSTEMD / "mooch.env.example").read_text())
    names = [n for n in UNIT_FILES if "@." not in n] + ["mooch-retry@mooch-worker.service.service"]
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = (done.stdout + done.stderr).splitlines()
    allowed = []
    if systemd_version() < 254:
        allowed = [re.compile(r"Unknown key (name )?'(RestartSteps|RestartMaxDelaySec)'")]
    problems = [
        line
        for line in output
        if line.strip() and "mooch" in line and not any(p.search(line) for p in allowed)
    ]
    assert done.returncode == 0, "\n".join(output)
    assert problems == [], "\n".join(problems)


# -- deploy/README.md ------------------------------------------------------------------


def readme(code_blocks: bool = True) -> str:
    text = (ROOT / "deploy" / "README.md").read_text()
    return text if code_blocks else re.sub(r"```.*?```", "", text, flags=re.S)


def god_table_rows() -> list[list[str]]:
    rows = []
    for line in readme().splitlines():
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
