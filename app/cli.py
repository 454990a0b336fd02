"""Commands: `flask notifications relay`, `flask loans clock`, `flask create-admin`,
`flask demo` (app/demo.py)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app.errors import MoochError

notifications_cli = AppGroup("notifications", help="The outbox of email notifications.")
loans_cli = AppGroup("loans", help="Loans.")


@notifications_cli.command("relay")
def relay_command() -> None:
    """Enqueue pending notifications whose job is missing (once)."""
    from app.notifications.outbox import relay

    click.echo(f"relayed {relay()} notification(s)")


@loans_cli.command("clock")
def clock_command() -> None:
    """Fire the timed events that are due (expire, remind, mark_overdue), once."""
    from app.lending.service import run_clock

    fired = run_clock()
    click.echo(", ".join(f"{e}: {n}" for e, n in sorted(fired.items())) or "nothing due")


@click.command("create-admin")
@click.option("--email", prompt=True)
@click.option("--name", prompt=True)
@click.password_option()
def create_admin_command(email: str, name: str, password: str) -> None:
    """Create an admin account, already active (no sign-up mail)."""
    from app.accounts.service import create_admin

    try:
        user = create_admin(email, password, name)
    except MoochError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"created admin {user.email}")


def init_app(app: Flask) -> None:
    app.cli.add_command(notifications_cli)
    app.cli.add_command(loans_cli)
    app.cli.add_command(create_admin_command)

    from app.demo import demo_command

    app.cli.add_command(demo_command)
