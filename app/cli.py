"""Commands: `flask notifications relay|digests|retry`, `flask worker status`, `flask loans clock`,
`flask create-admin`, `flask demo` (app/demo.py)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app.errors import MoochError

notifications_cli = AppGroup("notifications", help="The outbox of email notifications.")
loans_cli = AppGroup("loans", help="Loans.")
worker_cli = AppGroup("worker", help="The mail worker.")


@notifications_cli.command("relay")
def relay_command() -> None:
    """Enqueue pending notifications whose job is missing (once)."""
    from app.notifications.outbox import relay

    click.echo(f"relayed {relay()} notification(s)")


@notifications_cli.command("digests")
def digests_command() -> None:
    """Build the daily digests that are due now (once); the worker's clock does this
    every tick."""
    from app.notifications.digest import build_digests

    click.echo(f"built {build_digests()} digest(s)")


@notifications_cli.command("retry")
@click.argument("notification_id", metavar="ID", type=int, required=False)
@click.option("--all", "retry_all", is_flag=True, help="Retry every failed notification.")
def retry_command(notification_id: int | None, retry_all: bool) -> None:
    """Retry notification ID, or with --all every failed one.

    A failed notification goes back to pending with its attempts reset and is
    enqueued; a pending one whose job went missing is enqueued again. A sent one
    is refused."""
    from app.notifications.retry import retry, retry_all_failed

    if retry_all == (notification_id is not None):
        raise click.UsageError("Give either a notification ID or --all (one of them).")
    try:
        retried = retry_all_failed() if retry_all else retry(notification_id)
    except MoochError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(retried.message)


@loans_cli.command("clock")
def clock_command() -> None:
    """Fire the timed events that are due (expire, remind, mark_overdue), once."""
    from app.lending.service import run_clock

    fired = run_clock()
    click.echo(", ".join(f"{e}: {n}" for e, n in sorted(fired.items())) or "nothing due")


@worker_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, for machines.")
@click.option(
    "--max-pending-age",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Exit 1 when a pending notification is older (default WORKER_STATUS_MAX_PENDING_AGE).",
)
@click.pass_context
def worker_status_command(ctx: click.Context, as_json: bool, max_pending_age: float | None) -> None:
    """Live workers on every machine, queue depths, notifications by status.

    Exit 0 healthy; 1 no live worker or a pending notification too old; 2 Redis or the
    database unreachable."""
    from flask import current_app

    from app.worker.status import status_main

    ctx.exit(status_main(current_app._get_current_object(), as_json, max_pending_age))


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
    app.cli.add_command(worker_cli)
    app.cli.add_command(create_admin_command)

    from app.demo import demo_command

    app.cli.add_command(demo_command)
