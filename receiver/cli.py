"""``flask`` commands for ops: migrations, the request registry and the worker."""

from __future__ import annotations

import json
from collections.abc import Callable

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from receiver.jobs.worker import Worker, default_handlers
from receiver.providers import ProviderError
from receiver.services import Services
from receiver.web.current import services
from receiver.usecases import archives, records, registration, sending
from receiver.usecases.errors import UseCaseError
from receiver.web.errors import problem_from_provider
from storage import registry
from storage.crypto import reseal_all
from storage.errors import StorageError

db_commands = AppGroup("db", help="The database schema.")
request_commands = AppGroup("requests", help="The request registry.")
secret_commands = AppGroup("secrets", help="Secrets at rest.")

#: The ``app.extensions`` entry, if any, that gives ``flask worker`` its job handlers instead of
#: ``default_handlers()``: an app built around ``create_app`` may run more job kinds (the fault tests do).
JOB_HANDLERS = "job_handlers"


def register_commands(app: Flask) -> None:
    app.cli.add_command(db_commands)
    app.cli.add_command(request_commands)
    app.cli.add_command(secret_commands)
    app.cli.add_command(worker_command)


@db_commands.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (the Procfile's release step)."""
    services().database.upgrade()
    click.echo("database is at the newest migration")


@request_commands.command("list")
@click.option("--state", default=None)
@click.option("--kind", default=None)
@click.option("--limit", default=50, type=click.IntRange(1, 1000))
def requests_list(state: str | None, kind: str | None, limit: int) -> None:
    """List requests, newest first, one line each."""
    with services().database.transaction() as session:
        page = registry.list_page(session, state=state, kind=kind, limit=limit)
        for request in page.requests:
            click.echo(f"{request.id}\t{request.provider}\t{request.kind}\t{request.state}\t{request.created_at:%Y-%m-%d %H:%M:%SZ}")


@request_commands.command("show")
@click.argument("request_id")
def requests_show(request_id: str) -> None:
    """Print one request's whole record as JSON."""
    try:
        with services().database.transaction() as session:
            found = registry.get(session, request_id)
            detail = records.request_detail(found, registry.callbacks_of(session, found.id))
    except StorageError as error:
        raise click.ClickException(error.message) from None
    click.echo(json.dumps(detail, indent=2))


@request_commands.command("import")
@click.argument("document", type=click.File("r"), default="-")
def requests_import(document: click.File) -> None:
    """Register a request created elsewhere, from a JSON document (as /api/requests/import)."""
    try:
        created = registration.import_messagebird_request(services(), json.load(document))
    except (ValueError, UseCaseError, StorageError) as error:
        raise click.ClickException(getattr(error, "description", None) or str(error)) from None
    click.echo(json.dumps(records.request_summary(created), indent=2))


@request_commands.command("create")
@click.argument("document", type=click.File("r"), default="-")
def requests_create(document: click.File) -> None:
    """Send a MessageBird Personal Data request from a JSON document (as POST /api/requests)."""
    _send(sending.send_messagebird_request, document)


@request_commands.command("forget")
@click.argument("document", type=click.File("r"), default="-")
def requests_forget(document: click.File) -> None:
    """Send a VoodooSMS forget request from a JSON document (as POST /api/forget)."""
    _send(sending.forget_number, document)


def _send(send: Callable[[Services, object], sending.Sent], document: click.File) -> None:
    """Read the document (a file or stdin, so personal data stays out of the shell history) and send it."""
    try:
        sent = send(services(), json.load(document))  # type: ignore[arg-type]
    except ProviderError as error:
        raise click.ClickException(problem_from_provider(error).description) from None
    except (ValueError, UseCaseError, StorageError) as error:
        raise click.ClickException(getattr(error, "description", None) or str(error)) from None
    click.echo(json.dumps({**records.request_summary(sent.request), "earlierRequests": sent.earlier}, indent=2))
    if sent.outcome != sending.CREATED:
        raise click.ClickException(sent.explanation() or sent.outcome)


@request_commands.command("retry")
@click.argument("request_id")
def requests_retry(request_id: str) -> None:
    """Queue a failed request's archive download again."""
    try:
        retried = archives.retry_archive(services(), request_id)
    except UseCaseError as error:
        raise click.ClickException(error.description) from None
    click.echo(f"{retried.id} queued again ({retried.state})")


@secret_commands.command("rotate")
def secrets_rotate() -> None:
    """Re-seal every stored secret with the newest SECRET_KEY (run after adding a key in front)."""
    svc = services()
    with svc.database.transaction() as session:
        count = reseal_all(session, svc.secrets)
    click.echo(f"re-sealed {count} secrets with the newest key; older keys may now be removed")


@click.command("worker")
@click.option("--once", is_flag=True, help="Run the due jobs, then stop.")
def worker_command(once: bool) -> None:
    """Run the background worker until SIGTERM."""
    Worker(services(), handlers=current_app.extensions.get(JOB_HANDLERS) or default_handlers()).run(once=once)
