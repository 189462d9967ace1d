"""``flask`` commands for ops: migrations, the request registry, cases, API tokens and the people who signed in,
retention, the audit chain and the worker.

A command acts as the operator ``cli:<shell user>``: whoever has a shell on the
service has its keys already, so the shell is trusted like ``ADMIN_TOKEN``.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Callable
from typing import BinaryIO, TextIO

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from receiver.jobs.worker import Worker, default_handlers
from receiver.providers import ProviderError
from receiver.usecases import (
    anchoring,
    archives,
    audit,
    cases,
    evidence,
    legal_holds,
    operators,
    people,
    records,
    registration,
    retention,
    secrets_at_rest,
    sending,
    subject_links,
    subject_package,
)
from receiver.usecases.answers import Answer, iso_time
from receiver.usecases.documents import CASE_STATES, JURISDICTIONS, RIGHTS
from receiver.usecases.errors import UseCaseError
from receiver.web.current import services
from receiver.web.errors import problem_from_provider
from storage.errors import StorageError

db_commands = AppGroup("db", help="The database schema.")
request_commands = AppGroup("requests", help="The request registry.")
secret_commands = AppGroup("secrets", help="Secrets at rest.")
case_commands = AppGroup("cases", help="Data subject requests and their deadlines.")
token_commands = AppGroup("tokens", help="Named operators' API tokens.")
operator_commands = AppGroup("operators", help="People who signed in to the console through the identity provider.")
retention_commands = AppGroup("retention", help="The retention policy and legal holds.")
audit_commands = AppGroup("audit", help="The tamper-evident history: every fact sealed, the head time-stamped.")
evidence_commands = AppGroup("evidence", help="Evidence an auditor can check.")

#: The ``app.extensions`` entry, if any, that gives ``flask worker`` its job handlers instead of
#: ``default_handlers()``: an app built around ``create_app`` may run more job kinds (the fault tests do).
JOB_HANDLERS = "job_handlers"


def register_commands(app: Flask) -> None:
    app.cli.add_command(db_commands)
    app.cli.add_command(request_commands)
    app.cli.add_command(secret_commands)
    app.cli.add_command(case_commands)
    app.cli.add_command(token_commands)
    app.cli.add_command(operator_commands)
    app.cli.add_command(retention_commands)
    app.cli.add_command(audit_commands)
    app.cli.add_command(evidence_commands)
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
    for request in records.list_requests(services(), state=state, kind=kind, limit=limit).requests:
        created_at = dt.datetime.fromisoformat(request.created_at)
        click.echo(
            f"{request.id}\t{request.provider}\t{request.kind}\t{request.state}\t{created_at:%Y-%m-%d %H:%M:%SZ}"
        )


@request_commands.command("show")
@click.argument("request_id")
def requests_show(request_id: str) -> None:
    """Print one request's whole record as JSON."""
    try:
        detail = records.show_request(services(), request_id)
    except StorageError as error:
        raise click.ClickException(error.message) from None
    click.echo(json.dumps(detail.as_json(), indent=2))


@request_commands.command("import")
@click.argument("document", type=click.File("r"), default="-")
def requests_import(document: TextIO) -> None:
    """Register a request created elsewhere, from a JSON document (as /api/requests/import)."""
    try:
        created = registration.import_messagebird_request(services(), json.load(document), actor=cli_actor())
    except (ValueError, UseCaseError, StorageError) as error:
        raise click.ClickException(getattr(error, "description", None) or str(error)) from None
    click.echo(json.dumps(created.as_json(), indent=2))


@request_commands.command("create")
@click.argument("document", type=click.File("r"), default="-")
def requests_create(document: TextIO) -> None:
    """Send a MessageBird Personal Data request from a JSON document (as POST /api/requests)."""
    _send(sending.send_messagebird_request, document)


@request_commands.command("forget")
@click.argument("document", type=click.File("r"), default="-")
def requests_forget(document: TextIO) -> None:
    """Send a VoodooSMS forget request from a JSON document (as POST /api/forget)."""
    _send(sending.forget_number, document)


def _send(send: Callable[..., sending.Sent], document: TextIO) -> None:
    """Read the document (a file or stdin, so personal data stays out of the shell history) and send it."""
    try:
        sent = send(services(), json.load(document), actor=cli_actor())
    except ProviderError as error:
        raise click.ClickException(problem_from_provider(error).message) from None
    except (ValueError, UseCaseError, StorageError) as error:
        raise click.ClickException(getattr(error, "description", None) or str(error)) from None
    click.echo(json.dumps(sent.answer().as_json(), indent=2))
    if sent.outcome != sending.CREATED:
        raise click.ClickException(sent.explanation() or sent.outcome)


@request_commands.command("retry")
@click.argument("request_id")
def requests_retry(request_id: str) -> None:
    """Queue a failed request's archive download again."""
    try:
        retried = archives.retry_archive(services(), request_id, actor=cli_actor())
    except UseCaseError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"{retried.id} queued again ({retried.state})")


@secret_commands.command("rotate")
def secrets_rotate() -> None:
    """Re-seal every stored secret with the newest SECRET_KEY (run after adding a key in front)."""
    count = secrets_at_rest.reseal_secrets(services())
    click.echo(f"re-sealed {count} secrets with the newest key; older keys may now be removed")


@click.command("worker")
@click.option("--once", is_flag=True, help="Run the due jobs, then stop.")
def worker_command(once: bool) -> None:
    """Run the background worker until SIGTERM."""
    Worker(services(), handlers=current_app.extensions.get(JOB_HANDLERS) or default_handlers()).run(once=once)


def cli_actor() -> str:
    """The actor a command records: ``cli:`` and the shell user."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):
        return "cli"


def _refused(error: ValueError | UseCaseError | StorageError) -> click.ClickException:
    return click.ClickException(getattr(error, "description", None) or getattr(error, "message", None) or str(error))


def _read(document: TextIO) -> object:
    """The JSON document of a file or stdin (so personal data stays out of the shell history)."""
    return json.load(document)


def _print_case(change: Callable[[], Answer]) -> None:
    try:
        detail = change()
    except (ValueError, UseCaseError, StorageError) as error:
        raise _refused(error) from None
    click.echo(json.dumps(detail.as_json(), indent=2))


@case_commands.command("create")
@click.argument("document", type=click.File("r"), default="-")
def cases_create(document: TextIO) -> None:
    """Open a case from a JSON document (as POST /api/cases), from a file or stdin."""
    _print_case(lambda: cases.open_case(services(), _read(document), actor=cli_actor()))


@case_commands.command("list")
@click.option("--state", type=click.Choice(CASE_STATES), default=None)
@click.option("--overdue/--not-overdue", default=None)
@click.option("--due-before", type=click.DateTime(["%Y-%m-%d"]), default=None, help="YYYY-MM-DD")
@click.option("--right", type=click.Choice(RIGHTS), default=None)
@click.option("--jurisdiction", type=click.Choice(JURISDICTIONS), default=None)
@click.option("--limit", default=50, type=click.IntRange(1, 200))
def cases_list(
    state: str | None,
    overdue: bool | None,
    due_before: dt.datetime | None,
    right: str | None,
    jurisdiction: str | None,
    limit: int,
) -> None:
    """List cases, most urgent first, one line each: id, state, due date, days left, subject reference."""
    day = due_before.date() if due_before is not None else None
    wanted = cases.CaseFilter(state=state, overdue=overdue, right=right, jurisdiction=jurisdiction, due_before=day)
    for summary in cases.list_cases(services(), wanted, limit=limit).cases:
        shown = summary.as_json()
        left = "" if shown["daysLeft"] is None else f"{shown['daysLeft']:+d}d"
        flags = ",".join(flag for flag in ("overdue", "paused", "extended") if shown[flag])
        click.echo(
            "\t".join(
                str(part)
                for part in (
                    shown["id"],
                    shown["state"],
                    shown["dueOn"],
                    left,
                    flags,
                    shown["right"],
                    shown["jurisdiction"],
                    shown["subjectRef"],
                )
            )
        )


@case_commands.command("show")
@click.argument("case_id")
def cases_show(case_id: str) -> None:
    """Print a case as JSON: its deadline explained, its requests and targets, its history."""
    _print_case(lambda: cases.show_case(services(), case_id))


@case_commands.command("extend")
@click.argument("case_id")
@click.argument("document", type=click.File("r"), default="-")
def cases_extend(case_id: str, document: TextIO) -> None:
    """Extend the deadline by two months: {"reason": ..., "informedOn": "YYYY-MM-DD"}."""
    _print_case(lambda: cases.extend_deadline(services(), case_id, _read(document), actor=cli_actor()))


@case_commands.command("pause")
@click.argument("case_id")
@click.argument("document", type=click.File("r"), default="-")
def cases_pause(case_id: str, document: TextIO) -> None:
    """Stop the clock: {"reason": ..., "date": "YYYY-MM-DD"}."""
    _print_case(lambda: cases.pause(services(), case_id, _read(document), actor=cli_actor()))


@case_commands.command("resume")
@click.argument("case_id")
@click.argument("document", type=click.File("r"), default="-")
def cases_resume(case_id: str, document: TextIO) -> None:
    """Restart the clock: {"date": "YYYY-MM-DD"}."""
    _print_case(lambda: cases.resume(services(), case_id, _read(document), actor=cli_actor()))


@case_commands.command("close")
@click.argument("case_id")
@click.argument("document", type=click.File("r"), default="-")
def cases_close(case_id: str, document: TextIO) -> None:
    """Close the case: {"respondedOn": "YYYY-MM-DD", "deliveredBy": ..., "overrideReason": optional}."""
    _print_case(lambda: cases.close(services(), case_id, _read(document), actor=cli_actor()))


@token_commands.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(operators.ROLES), required=True)
def tokens_create(name: str, role: str) -> None:
    """Make a token for NAME with ROLE; it is printed once, on the last line, and never stored in clear."""
    try:
        made = operators.create_token(services(), name, role, actor=cli_actor())
    except (UseCaseError, StorageError) as error:
        raise _refused(error) from None
    click.echo(f"token {made.record.name} ({made.record.role}) created; it is shown once, keep it now:")
    click.echo(made.token)


@token_commands.command("list")
def tokens_list() -> None:
    """Every token: name, role, created (when, by whom), revoked."""
    for token in operators.list_tokens(services()):
        revoked = (
            "active" if token.revoked_at is None else f"revoked {iso_time(token.revoked_at)} by {token.revoked_by}"
        )
        created = iso_time(token.created_at)
        click.echo(f"{token.name}\t{token.role}\t{created}\t{token.created_by}\t{revoked}")


@token_commands.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke the token named NAME at once; the name is never given to another token."""
    try:
        revoked = operators.revoke_token(services(), name, actor=cli_actor())
    except (UseCaseError, StorageError) as error:
        raise _refused(error) from None
    click.echo(f"token {revoked.name} revoked")


@operator_commands.command("list")
def operators_list() -> None:
    """Everyone who signed in through the identity provider: actor, name, role, last sign-in, open sessions."""
    for person in people.list_people(services()):
        click.echo(
            f"{person['actor']}\t{person['name']}\t{person['role']}\t{person['lastSignedInAt']}\t"
            f"{person['openSessions']} open session(s)"
        )


@operator_commands.command("end-sessions")
@click.argument("person")
def operators_end_sessions(person: str) -> None:
    """End every console session of PERSON (oidc:<id>, the id, or their name) at once."""
    try:
        ended = people.end_sessions(services(), person, actor=cli_actor())
    except (UseCaseError, StorageError) as error:
        raise _refused(error) from None
    click.echo(f"{ended['actor']} ({ended['name']}): {ended['sessionsEnded']} session(s) ended")


@retention_commands.command("run")
def retention_run() -> None:
    """Apply the retention policy now, as the worker's periodic run does, and print what it did and kept, and why.

    Exits non-zero when a class of data or an archive could not be dealt with."""
    report = retention.run_retention(services(), actor=cli_actor())
    for line in report.lines():
        click.echo(line)
    if report.failed:
        raise click.ClickException("some of the policy could not be applied (see above); the next run tries again")


@retention_commands.command("hold")
@click.argument("case_id")
@click.argument("document", type=click.File("r"), default="-")
def retention_hold(case_id: str, document: TextIO) -> None:
    """Place a legal hold on a case's archives: {"reason": ...} (as POST /api/cases/<id>/legal-hold)."""
    _print_case(lambda: legal_holds.place_legal_hold(services(), case_id, _read(document), actor=cli_actor()))


@retention_commands.command("release")
@click.argument("case_id")
@click.option("--reason", default=None, help="Why the hold ends.")
def retention_release(case_id: str, reason: str | None) -> None:
    """Release a case's legal hold (as DELETE /api/cases/<id>/legal-hold)."""
    document = {"reason": reason} if reason else {}
    _print_case(lambda: legal_holds.release_legal_hold(services(), case_id, document, actor=cli_actor()))


@audit_commands.command("verify")
@click.option(
    "--expect-head",
    "expected",
    default=None,
    metavar="SEQ:HASH",
    help="An outside copy of an earlier head (from the audit.chain_head log event or the metrics).",
)
def audit_verify(expected: str | None) -> None:
    """Seal what is new, check the chain, every covered row and every anchor: exit 0, or 1 naming each change."""
    try:
        copy = audit.parse_head(expected) if expected is not None else None
        report = audit.verify(services(), expected=copy)
    except (ValueError, StorageError) as error:
        raise _refused(error) from None
    for note in report.anchors.notes:
        click.echo(note, err=True)
    for broken in report.breaks:
        click.echo(
            f"audit chain broken at seq {broken.seq}: {broken.source} {broken.row_key} {broken.kind}: {broken.detail}",
            err=True,
        )
    if report.breaks:
        raise click.ClickException(f"audit chain broken: {len(report.breaks)} change(s) made outside the service")
    verdict = report.verdict
    against = f"; matches the copy of seq {copy.seq}" if copy is not None else ""
    click.echo(
        f"audit chain intact: {verdict.entries} entries, head {verdict.head.seq}:{verdict.head.hash}"
        f"{against}; {verdict.pending} rows pending (written, not sealed yet); {_anchors_line(report.anchors)}"
    )


def _anchors_line(report: anchoring.AnchorReport) -> str:
    latest = report.latest
    if latest is None or latest.stamped_at is None:
        return "no anchor exists"
    return f"{len(report.anchors)} anchors, the latest at seq {latest.seq} time-stamped {iso_time(latest.stamped_at)}"


@audit_commands.command("anchor")
def audit_anchor() -> None:
    """Seal what is new and time-stamp the head now: exit 0 with the anchor, 1 when none could be made."""
    try:
        anchored = audit.anchor(services())
    except StorageError as error:
        raise _refused(error) from None
    if anchored.anchor is None or anchored.anchor.stamped_at is None:
        raise click.ClickException(f"no anchor: {anchored.failure}")
    anchor = anchored.anchor
    done = "anchored" if anchored.new else "already anchored"
    click.echo(
        f"{done}: seq {anchor.seq}, head {anchor.head_hash}, time-stamped {iso_time(anchor.stamped_at)}"
        f" by {anchor.tsa_url}"
    )


@evidence_commands.command("pack")
@click.argument("case_id")
@click.option("-o", "--output", type=click.File("wb"), required=True, help="Where to write the ZIP ('-': stdout).")
def evidence_pack(case_id: str, output: BinaryIO) -> None:
    """Write CASE_ID's evidence pack; its SHA-256 is recorded in the case's history and printed on stderr."""
    try:
        pack = evidence.export_pack(services(), case_id, actor=cli_actor())
    except (UseCaseError, StorageError) as error:
        raise _refused(error) from None
    output.write(pack.data)
    stamped = "time-stamped" if pack.time_stamped else "NOT time-stamped (see NOT-TIME-STAMPED.txt in it)"
    click.echo(f"evidence pack of {case_id}: {len(pack.data)} bytes, SHA-256 {pack.sha256}, {stamped}", err=True)


@evidence_commands.command("reverify")
@click.argument("case_id")
def evidence_reverify(case_id: str) -> None:
    """Verify CASE_ID's accepted callbacks again from their kept raw inputs; exit 1 unless every one verifies."""
    try:
        rechecks = evidence.reverify_case(services(), case_id)
    except (UseCaseError, StorageError) as error:
        raise _refused(error) from None
    for recheck in rechecks:
        click.echo(_recheck_lines(recheck))
    failing = sum(not recheck.verified for recheck in rechecks)
    click.echo(f"{len(rechecks)} accepted callbacks, {len(rechecks) - failing} verified again, {failing} not")
    if failing:
        raise click.exceptions.Exit(1)


def _recheck_lines(recheck: evidence.Recheck) -> str:
    head = (
        f"callback {recheck.callback_id} of {recheck.request_id}, received "
        f"{iso_time(recheck.received_at)}: {'VERIFIED' if recheck.verified else 'NOT VERIFIED'}"
    )
    if recheck.missing is not None:
        return f"{head}\n  {recheck.missing}"
    lines = [
        head,
        f"  body: {'the one recorded (SHA-256 matches)' if recheck.body_matches else 'NOT the one recorded'}",
    ]
    for name, check in (("jwt", recheck.jwt), ("hmac", recheck.hmac)):
        if check is not None:
            reason = f" ({check.reason})" if check.reason else ""
            lines.append(f"  {name}: recorded {check.recorded}, checked again: {check.verdict}{reason}")
    lines.extend(f"  NOT BOUND ({mismatch.reason}): {mismatch.detail}" for mismatch in recheck.mismatches)
    return "\n".join(lines)


@case_commands.command("package")
@click.argument("case_id")
@click.option("--build", is_flag=True, help="Build the package (again): the worker builds it.")
def cases_package(case_id: str, build: bool) -> None:
    """Print the subject's package as JSON (as GET /api/cases/<id>/package); --build asks for a new one."""
    if build:
        _print_case(lambda: subject_package.request_package(services(), case_id, actor=cli_actor()))
    else:
        _print_case(lambda: subject_package.package_view(services(), case_id))


@case_commands.command("link")
@click.argument("case_id")
@click.argument("document", type=click.File("r"), default="-")
def cases_link(case_id: str, document: TextIO) -> None:
    """Make a link for the subject: {"maxDownloads", "expiresInDays", "email"?, "language"?}, from a file or stdin
    (so the address stays out of the shell history). The URL is printed this once."""
    _print_case(lambda: subject_links.create_link(services(), case_id, _read(document), actor=cli_actor()))


@case_commands.command("revoke-link")
@click.argument("case_id")
@click.argument("link_id")
def cases_revoke_link(case_id: str, link_id: str) -> None:
    """Revoke a link of the case at once."""
    _print_case(lambda: subject_links.revoke_link(services(), case_id, link_id, actor=cli_actor()))
