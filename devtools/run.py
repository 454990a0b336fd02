"""`make run`: start the app for development with honcho and Procfile.dev.

Starts the embedded Redis only when no `REDIS_URL` is configured and the mail catcher
only when no `MAIL_SERVER` is, sets the variables the other processes need, prints what
runs where, then replaces itself with honcho (Ctrl-C stops everything).

Configured means set in the environment or in `.env`, which honcho also reads and
applies over the environment.

On a database with no users yet it first runs `flask demo` (two demo accounts and a
few loans) and prints their logins; `MOOCH_DEMO=0` skips that. Nothing here prompts,
so `make run` works with no terminal attached.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = "Procfile.dev"

WEB_PORT = "5000"
REDIS_PORT = "6390"
MAIL_PORT = "1025"
MAIL_DIR = "instance/mail"


def read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from honcho.environ import parse

    return parse(path.read_text())


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def port_busy(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def plan(environ: dict[str, str], dotenv: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The environment for honcho and the Procfile.dev processes to start, in order."""
    env = dict(environ)
    configured = {**environ, **dotenv}
    processes: list[str] = []

    env.setdefault("MOOCH_ENV", "development")
    env.setdefault("MOOCH_WEB_PORT", WEB_PORT)
    env.setdefault("BASE_URL", f"http://127.0.0.1:{env['MOOCH_WEB_PORT']}")
    env.setdefault("PYTHONUNBUFFERED", "1")

    if not configured.get("REDIS_URL"):
        env.setdefault("MOOCH_REDIS_PORT", REDIS_PORT)
        env["REDIS_URL"] = f"redis://127.0.0.1:{env['MOOCH_REDIS_PORT']}/0"
        processes.append("redis")
    if not configured.get("MAIL_SERVER"):
        env["MAIL_SERVER"] = "127.0.0.1"
        env["MAIL_PORT"] = configured.get("MAIL_PORT") or MAIL_PORT
        env["MAIL_CATCHER_DIR"] = configured.get("MAIL_CATCHER_DIR") or MAIL_DIR
        processes.append("mail")
    processes += ["web", "worker"]

    # The Procfile says `python` and `flask`: they must be this venv's, activated or not.
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
    env.setdefault("VIRTUAL_ENV", str(Path(sys.executable).parent.parent))
    return env, processes


def describe(effective: dict[str, str], processes: list[str]) -> str:
    """What runs where, as the processes will see it (.env applied over env)."""
    base_url = effective["BASE_URL"]
    rows = [
        ("web", f"http://127.0.0.1:{effective['MOOCH_WEB_PORT']}  (BASE_URL {base_url})"),
        ("worker", "python worker.py"),
    ]
    if "redis" in processes:
        rows.append(("redis", f"embedded {effective['REDIS_URL']}  (empty at every start)"))
    else:
        rows.append(("redis", f"external: {redact(effective['REDIS_URL'])}"))
    if "mail" in processes:
        rows.append(
            (
                "mail",
                f"catcher smtp://127.0.0.1:{effective['MAIL_PORT']}, "
                f"each message kept as a .eml file in {effective['MAIL_CATCHER_DIR']}/",
            )
        )
    else:
        port = effective.get("MAIL_PORT", "25")
        rows.append(("mail", f"external: {effective['MAIL_SERVER']}:{port}"))
    lines = ["Mooch (development)"]
    lines += [f"  {name:<7} {what}" for name, what in rows]
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines)


def busy_ports(effective: dict[str, str], processes: list[str]) -> list[str]:
    wanted = [("web", "MOOCH_WEB_PORT")]
    if "redis" in processes:
        wanted.append(("redis", "MOOCH_REDIS_PORT"))
    if "mail" in processes:
        wanted.append(("mail", "MAIL_PORT"))
    return [
        f"{name} port {effective[key]}" for name, key in wanted if port_busy(int(effective[key]))
    ]


def seed_demo(effective: dict[str, str]) -> str:
    """`flask demo` on an empty development database; what it said, or "".

    The demo command itself does nothing when any user exists, so every later start
    leaves the database alone."""
    if effective.get("MOOCH_ENV") != "development" or effective.get("MOOCH_DEMO") == "0":
        return ""
    flask = Path(sys.executable).parent / "flask"
    try:
        done = subprocess.run(
            [str(flask), "--app", "app", "demo"],
            env=effective,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"run: flask demo did not run ({error}); starting anyway."
    if done.returncode != 0:
        return f"run: flask demo failed, starting anyway:\n{done.stderr.strip()}"
    said = done.stdout.strip()
    return "" if "nothing to do" in said else said


def main() -> int:
    os.chdir(ROOT)
    dotenv = read_dotenv(ROOT / ".env")
    env, processes = plan(dict(os.environ), dotenv)
    effective = {**env, **dotenv}

    honcho = Path(sys.executable).parent / "honcho"
    if not honcho.exists():
        print(f"run: no honcho next to {sys.executable}; run `make venv` first", file=sys.stderr)
        return 1

    busy = busy_ports(effective, processes)
    if busy:
        print(
            f"run: already in use: {', '.join(busy)}. Is another `make run` going? "
            "Stop it, or pick other ports (MOOCH_WEB_PORT, MOOCH_REDIS_PORT, MAIL_PORT).",
            file=sys.stderr,
        )
        return 1

    Path("instance").mkdir(exist_ok=True)
    if "mail" in processes:
        Path(effective["MAIL_CATCHER_DIR"]).mkdir(parents=True, exist_ok=True)

    seeded = seed_demo(effective)
    print(describe(effective, processes), flush=True)
    if seeded:
        print(seeded, flush=True)
    argv = [str(honcho), "-f", PROCFILE, "start", *processes]
    os.execve(argv[0], argv, env)


if __name__ == "__main__":
    sys.exit(main())
