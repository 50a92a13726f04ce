"""`interview-retention`: what an operator does by hand.

Every command reads the same settings as the service (DATABASE_URL and friends,
or `.env`), so with no settings it works on the same SQLite file as `make run`.
"""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from interview_retention.clock import utcnow
from interview_retention.config import get_settings
from interview_retention.db.engine import get_sessionmaker, transaction
from interview_retention.errors import DomainError
from interview_retention.logs import configure_logging

app = typer.Typer(no_args_is_help=True, help=__doc__.splitlines()[0])
users_app = typer.Typer(no_args_is_help=True, help="Create users and issue tokens.")
hold_app = typer.Typer(no_args_is_help=True, help="Set and lift legal holds.")
app.add_typer(users_app, name="users")
app.add_typer(hold_app, name="hold")

console = Console()


class Reason(enum.StrEnum):
    USER = "USER"
    RETENTION = "RETENTION"
    ADMIN = "ADMIN"


JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.callback()
def _setup() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def _print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


@app.command()
def migrate(revision: str = "head") -> None:
    """Bring the database schema up to date (Alembic upgrade)."""
    from interview_retention.db.migrate import upgrade

    upgrade(get_settings().database_url, revision)
    console.print(f"database at {revision}: {_safe_url()}")


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="The user's email address.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    admin: Annotated[
        bool, typer.Option("--admin", help="Give the admin role.")
    ] = False,
) -> None:
    """Create a user and print their bearer token, once."""
    from interview_retention.users.service import create_user

    try:
        with transaction() as db:
            user, token = create_user(
                db, email=email, display_name=name, admin=admin, now=utcnow()
            )
    except DomainError as exc:
        _fail(exc.message)
    console.print(f"user {user.id} ({user.role})")
    console.print("token (shown once, store it now):")
    sys.stdout.write(token + "\n")


@users_app.command("token")
def users_token(
    email: Annotated[str, typer.Option(help="The user's email address.")],
) -> None:
    """Issue a new token for a user; the old one stops working."""
    from interview_retention.users.service import rotate_token

    try:
        with transaction() as db:
            user, token = rotate_token(db, email=email, now=utcnow())
    except DomainError as exc:
        _fail(exc.message)
    console.print(f"new token for user {user.id} (shown once):")
    sys.stdout.write(token + "\n")


@users_app.command("revoke")
def users_revoke(
    email: Annotated[str, typer.Option(help="The user's email address.")],
) -> None:
    """Revoke a user's token without issuing a new one."""
    from interview_retention.users.service import revoke_token

    try:
        with transaction() as db:
            user = revoke_token(db, email=email)
    except DomainError as exc:
        _fail(exc.message)
    console.print(f"token of user {user.id} revoked; `users token` issues a new one")


@app.command("import")
def import_sessions(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    as_json: JsonFlag = False,
) -> None:
    """Import users, resumes and sessions from a JSON Lines file, keeping their age.

    Sessions that exist already, or that were deleted before (a tombstone), are
    skipped; a line that is not valid stops the import and nothing is written.
    """
    from interview_retention.transfer.importer import ImportFailed, import_jsonl

    try:
        with transaction() as db, file.open(encoding="utf-8") as lines:
            summary = import_jsonl(db, lines, now=utcnow())
    except ImportFailed as exc:
        _fail(str(exc))
    if as_json:
        _print_json(summary)
        return
    width = max(map(len, summary))
    for key, value in summary.items():
        console.print(f"{key:>{width}}: {value}")


@app.command()
def sample(
    out: Annotated[Path, typer.Option(help="Where to write the JSON Lines file.")],
    users: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    sessions: Annotated[int, typer.Option(min=1, max=1_000_000)] = 400,
    seed: Annotated[int, typer.Option(help="Same seed, same file.")] = 7,
) -> None:
    """Write a realistic sample data set built from the shipped interview questions."""
    from interview_retention.sample.generate import write_sample

    counts = write_sample(
        out,
        users=users,
        sessions=sessions,
        seed=seed,
        now=utcnow(),
        settings=get_settings(),
    )
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    console.print(f"wrote {out}: {summary}", soft_wrap=True)


def _run_job(job: str, as_json: bool, batch_size: int | None = None) -> None:
    from interview_retention.deletion import jobs
    from interview_retention.deletion.channels import get_channel
    from interview_retention.sessions.cache import get_report_cache

    body = jobs.body_of(
        job, cache=get_report_cache(), channel=get_channel(), batch_size=batch_size
    )
    result = jobs.run_job(
        job,
        body,
        factory=get_sessionmaker(),
        settings=get_settings(),
        trigger="cli",
    )
    if as_json:
        _print_json(result)
        return
    table = Table(title=f"{job} run {result['run_id']}", show_header=False)
    for key, value in result.items():
        if key not in ("job", "run_id"):
            table.add_row(key, str(value))
    console.print(table)


@app.command()
def retention(as_json: JsonFlag = False) -> None:
    """Run the retention rule now: queue notices for sessions it newly covers."""
    _run_job("retention", as_json)


@app.command()
def notices(as_json: JsonFlag = False) -> None:
    """Send the pending-deletion notices that are due now."""
    _run_job("notices", as_json)


@app.command()
def purge(
    as_json: JsonFlag = False,
    batch_size: Annotated[int | None, typer.Option(min=1, max=10_000)] = None,
) -> None:
    """Hard-delete every session whose deadline has been reached, in batches."""
    _run_job("purge", as_json, batch_size)


@app.command()
def backlog(as_json: JsonFlag = False) -> None:
    """Counts of sessions waiting, scheduled, due and overdue, and of notices."""
    from interview_retention.deletion import service

    with transaction() as db:
        counts = service.backlog(
            db, now=utcnow(), overdue_after=get_settings().overdue_after
        )
    if as_json:
        _print_json(counts.as_dict())
        return
    table = Table(title="retention backlog")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in vars(counts).items():
        if key.endswith("_seconds"):
            key, value = key.removesuffix("_seconds"), _duration(value)
        table.add_row(key.replace("_", " "), "-" if value is None else str(value))
    console.print(table)


@app.command("deletion-log")
def deletion_log(
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    reason: Annotated[
        Reason | None, typer.Option(case_sensitive=False, help="Only this reason.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The newest tombstones: what was deleted, why, by whom, how many rows."""
    from interview_retention.admin.schemas import TombstoneOut
    from interview_retention.deletion.service import list_tombstones

    with transaction() as db:
        entries, _ = list_tombstones(
            db, reason=reason.value if reason else None, limit=limit
        )
    rows = [TombstoneOut.of(e).model_dump(by_alias=True, mode="json") for e in entries]
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"deletion log (newest {len(rows)})")
    for column in ("session", "reason", "actor", "purged at", "rows"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["sessionId"],
            row["reason"],
            row["actor"],
            row["purgedAt"][:19],
            str(sum(row["rowsRemoved"].values())),
        )
    console.print(table)


@hold_app.command("set")
def hold_set(
    session_id: str,
    reason: Annotated[str, typer.Option(help="Why the session must be kept.")],
) -> None:
    """Put a session on legal hold: no retention, no purge, no hard delete."""
    from interview_retention.deletion.service import set_legal_hold

    try:
        with transaction() as db:
            set_legal_hold(
                db,
                session_id=session_id,
                reason=reason,
                now=utcnow(),
                settings=get_settings(),
            )
    except DomainError as exc:
        _fail(exc.message)
    console.print(f"hold set on {session_id}")


@hold_app.command("lift")
def hold_lift(session_id: str) -> None:
    """Lift a legal hold; nothing is deleted sooner than GRACE_DAYS from now."""
    from interview_retention.deletion.service import lift_legal_hold

    try:
        with transaction() as db:
            lift_legal_hold(
                db, session_id=session_id, now=utcnow(), settings=get_settings()
            )
    except DomainError as exc:
        _fail(exc.message)
    console.print(f"hold lifted on {session_id}")


def _duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h {minutes}m"


def _safe_url() -> str:
    from sqlalchemy.engine import make_url

    return make_url(get_settings().database_url).render_as_string(hide_password=True)
