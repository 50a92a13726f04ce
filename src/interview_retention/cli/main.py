"""`interview-retention`: what an operator does by hand.

Every command reads the same settings as the service (DATABASE_URL and friends,
or `.env`), so with no settings it works on the same SQLite file as `make run`.
"""

from __future__ import annotations

import enum
import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from typer.core import TyperGroup

from interview_retention.clock import NEEDS_OFFSET, human_duration, utcnow
from interview_retention.config import get_settings
from interview_retention.db.engine import get_sessionmaker, transaction
from interview_retention.errors import DomainError
from interview_retention.logs import configure_logging

if TYPE_CHECKING:
    from interview_retention.deletion.jobs import OnBatch

NOT_MIGRATED = "database is not migrated: run interview-retention migrate"
EXIT_NOT_MIGRATED = 2


def missing_table(exc: BaseException) -> bool:
    """Whether a database error says a table does not exist: SQLite's `no such
    table`, or PostgreSQL's undefined_table (SQLSTATE 42P01)."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    if not isinstance(exc, OperationalError | ProgrammingError):
        return False
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code is not None:
        return code == "42P01"
    return "no such table" in str(orig)


class _Commands(TyperGroup):
    """Every command, run so that a database nobody has migrated is one line of
    advice and exit code 2, not a traceback of some two hundred lines."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if missing_table(exc):
                _fail(NOT_MIGRATED, EXIT_NOT_MIGRATED)
            raise


app = typer.Typer(no_args_is_help=True, help=__doc__.splitlines()[0], cls=_Commands)
users_app = typer.Typer(no_args_is_help=True, help="Create users and issue tokens.")
hold_app = typer.Typer(no_args_is_help=True, help="Set and lift legal holds.")
app.add_typer(users_app, name="users")
app.add_typer(hold_app, name="hold")
# Not "notices": that name runs the notices job.
dead_letters_app = typer.Typer(
    no_args_is_help=True, help="See and retry notices that could not be delivered."
)
app.add_typer(dead_letters_app, name="dead-letters")

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


def _fail(message: str, code: int = 1) -> NoReturn:
    Console(stderr=True).print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code)


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


# Exit status of a plan run that was refused (drifted, stale or run before), so
# that a script can tell it from a failure.
EXIT_REFUSED = 3

DryRunFlag = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Store and print the plan of what the job would do now; change nothing.",
    ),
]
PlanOption = Annotated[
    str | None,
    typer.Option(
        "--plan",
        metavar="PLAN_ID",
        help="Act on this plan's sessions only; refused (exit 3, the drift printed)"
        " if the set the job would act on now differs from it.",
    ),
]
BatchSizeOption = Annotated[
    int | None, typer.Option(min=1, max=10_000, help="Rows per transaction.")
]
LimitOption = Annotated[
    int | None,
    typer.Option(min=1, help="Stop after this many; with --dry-run, cap the plan."),
]


def _run_job(
    job: str,
    *,
    as_json: bool,
    dry_run: bool,
    plan_id: str | None,
    batch_size: int | None,
    limit: int | None,
) -> None:
    from interview_retention.deletion import jobs, plans
    from interview_retention.deletion.channels import get_channel
    from interview_retention.sessions.cache import get_report_cache

    if dry_run and plan_id:
        _fail("--dry-run makes a plan and --plan runs one: give one of them", code=2)
    if plan_id and limit:
        _fail("a plan's set is fixed when it is made: give --limit with --dry-run", 2)
    settings = get_settings()
    now = utcnow()
    if dry_run:
        _dry_run(job, now=now, limit=limit, batch_size=batch_size, as_json=as_json)
        return

    run_id = str(uuid.uuid4())
    try:
        with transaction() as db:
            if plan_id:
                plans.claim(
                    db, plan_id, job=job, now=now, settings=settings, run_id=run_id
                )
                total = len(plans.session_ids(db, plan_id))
            else:
                total = plans.count_candidates(db, job, now=now, settings=settings)
    except plans.PlanRefused as refused:
        _refused(refused, as_json)
    except DomainError as exc:
        _fail(exc.message)
    if limit is not None:
        total = min(total, limit)

    params = {"batchSize": batch_size, "limit": limit, "planId": plan_id}
    with _progress(job, total, enabled=not as_json) as advance:
        body = jobs.body_of(
            job,
            cache=get_report_cache(),
            channel=get_channel(),
            batch_size=batch_size,
            on_batch=advance,
        )
        result = jobs.run_job(
            job,
            body,
            factory=get_sessionmaker(),
            settings=settings,
            run_id=run_id,
            trigger="cli",
            now=now,
            params={k: v for k, v in params.items() if v is not None},
        )
    if as_json:
        _print_json(result)
        return
    table = Table(title=f"{job} run {result['run_id']}", show_header=False)
    for key, value in result.items():
        if key not in ("job", "run_id"):
            table.add_row(key, str(value))
    console.print(table)


@contextmanager
def _progress(job: str, total: int, *, enabled: bool) -> Iterator[OnBatch]:
    """A progress bar on stderr, moved after each committed batch."""
    if not enabled or total == 0:
        yield lambda done: None
        return
    with Progress(
        TextColumn(f"{job}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as progress:
        task = progress.add_task(job, total=total)
        yield lambda done: progress.update(task, completed=min(done, total))


def _dry_run(
    job: str,
    *,
    now: datetime,
    limit: int | None,
    batch_size: int | None,
    as_json: bool,
) -> None:
    from interview_retention.admin.schemas import PlanOut
    from interview_retention.deletion import plans

    settings = get_settings()
    with transaction() as db:
        plan = plans.preview(
            db, job, now=now, settings=settings, limit=limit, batch_size=batch_size
        )
        # Every id, for scripts; the table shows the counts.
        out = PlanOut.of(
            plan, now=now, settings=settings, page_size=max(plan.item_count, 1)
        ).model_dump(by_alias=True, mode="json")
    if as_json:
        _print_json(out)
        return
    _print_plan(out)
    console.print(
        f"nothing changed; run exactly this set with: interview-retention {job}"
        f" --plan {out['planId']}",
        soft_wrap=True,
    )


def _print_plan(out: dict[str, Any]) -> None:
    table = Table(title=f"{out['job']} plan (dry run)", show_header=False)
    table.add_column("what")
    # A digest is shown whole, wrapped on a narrow terminal, never cut.
    table.add_column("value", overflow="fold")
    rows = [
        ("plan id", out["planId"]),
        ("state", out["state"]),
        ("as of", out["asOf"]),
        ("count", str(out["count"]) + (" (truncated)" if out["truncated"] else "")),
        ("oldest deadline", out["oldestDeadline"] or "-"),
        ("digest", out["digest"]),
        ("expires at", out["expiresAt"]),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


def _refused(refused: Any, as_json: bool) -> NoReturn:
    """Print why a plan may not run, with its drift, and exit 3."""
    if as_json:
        _print_json({"refused": True, "message": refused.message, **refused.data})
        raise typer.Exit(EXIT_REFUSED)
    err = Console(stderr=True)
    err.print(f"[red]refused:[/red] {refused.message}", soft_wrap=True)
    data = refused.data
    if "addedCount" in data:
        table = Table(title="drift since the plan", show_header=True)
        table.add_column("change")
        table.add_column("session")
        table.add_column("why")
        for sid in data["added"]:
            table.add_row("added", sid, "")
        for item in data["removed"]:
            table.add_row("removed", item["sessionId"], item["why"])
        err.print(table)
        capped = (
            len(data["added"]) < data["addedCount"]
            or len(data["removed"]) < data["removedCount"]
        )
        err.print(
            f"planned {data['planned']}, now {data['current']}:"
            f" {data['addedCount']} added, {data['removedCount']} removed"
            + ("; the first of each are listed" if capped else "")
        )
    raise typer.Exit(EXIT_REFUSED)


def _job_command(job: str, summary: str) -> None:
    """Register `job` as a command: a run, a dry run or a plan's run."""

    def command(
        as_json: JsonFlag = False,
        dry_run: DryRunFlag = False,
        plan: PlanOption = None,
        batch_size: BatchSizeOption = None,
        limit: LimitOption = None,
    ) -> None:
        _run_job(
            job,
            as_json=as_json,
            dry_run=dry_run,
            plan_id=plan,
            batch_size=batch_size,
            limit=limit,
        )

    command.__doc__ = summary
    app.command(job)(command)


_job_command(
    "retention",
    "Run the retention rule now: queue notices for sessions it newly covers.",
)
_job_command("notices", "Send the pending-deletion notices that are due now.")
_job_command(
    "purge", "Hard-delete every session whose deadline has been reached, in batches."
)


@app.command("plan")
def show_plan(
    plan_id: Annotated[str, typer.Argument(metavar="PLAN_ID")],
    check: Annotated[
        bool, typer.Option("--check", help="Also show the drift from now.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show a stored dry-run plan: its state, count, oldest deadline and digest."""
    from interview_retention.admin.schemas import PlanOut
    from interview_retention.deletion import plans

    settings = get_settings()
    now = utcnow()
    try:
        with transaction() as db:
            plan = plans.get_plan(db, plan_id)
            drift = (
                plans.check(db, plan, now=now, settings=settings).as_dict()
                if check
                else None
            )
            out = PlanOut.of(
                plan,
                now=now,
                settings=settings,
                page_size=max(plan.item_count, 1),
                drift=drift,
            ).model_dump(by_alias=True, mode="json")
    except DomainError as exc:
        _fail(exc.message)
    if as_json:
        _print_json(out)
        return
    _print_plan(out)
    if drift is not None:
        console.print(
            f"drift now: {drift['addedCount']} added, {drift['removedCount']} removed"
        )


@app.command()
def backlog(as_json: JsonFlag = False) -> None:
    """Counts of sessions waiting, scheduled, due and overdue, of notices and
    holds, and each job's heartbeat: last start, success and error."""
    from interview_retention.deletion.health import retention_status

    settings = get_settings()
    with transaction() as db:
        status = retention_status(db, now=utcnow(), settings=settings)
    if as_json:
        _print_json(status.as_dict())
        return
    title = "retention backlog" + (
        " (DELETIONS PAUSED)" if status.deletions_paused else ""
    )
    table = Table(title=title)
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in vars(status.backlog).items():
        if key.endswith("_seconds"):
            key, value = key.removesuffix("_seconds"), _duration(value)
        table.add_row(key.replace("_", " "), "-" if value is None else str(value))
    console.print(table)

    jobs = Table(title="jobs")
    for column in ("job", "last start", "last success", "last error", "quiet for"):
        jobs.add_column(column)
    jobs.add_column("state")
    for job in status.jobs:
        if job.silent:
            state = "silent"
        elif job.age_seconds is None:
            state = "never ran"
        else:
            state = "failing" if job.failing else "ok"
        jobs.add_row(
            job.job,
            _when(job.last_started_at),
            _when(job.last_success_at),
            _when(job.last_error_at),
            _duration(job.age_seconds) or "-",
            state,
        )
    console.print(jobs)


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.strftime("%Y-%m-%d %H:%M")


def _instant(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 instant with its offset, refused without one as the API does:
    a shell's local time must not be guessed."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{name}: {value!r} is not an ISO 8601 instant", code=2)
    if parsed.tzinfo is None:
        _fail(f"{name}: {value!r} {NEEDS_OFFSET}", code=2)
    return parsed.astimezone(UTC)


@app.command("deletion-log")
def deletion_log(
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    reason: Annotated[
        Reason | None, typer.Option(case_sensitive=False, help="Only this reason.")
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Only this user id's sessions.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Purged at or after (ISO 8601, UTC if no offset)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Purged before (ISO 8601)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The newest tombstones: what was deleted, why, by whom, how many rows."""
    from interview_retention.admin.schemas import TombstoneOut
    from interview_retention.deletion.service import list_tombstones

    with transaction() as db:
        entries, total = list_tombstones(
            db,
            since=_instant(since, "--since"),
            until=_instant(until, "--until"),
            reason=reason.value if reason else None,
            user_id=user,
            limit=limit,
        )
    rows = [TombstoneOut.of(e).model_dump(by_alias=True, mode="json") for e in entries]
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"deletion log (newest {len(rows)} of {total})")
    for column in ("session", "user", "reason", "actor", "purged at", "rows"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["sessionId"],
            row["userId"],
            row["reason"],
            row["actor"],
            row["purgedAt"][:19],
            str(sum(row["rowsRemoved"].values())),
        )
    console.print(table)


HoldReason = Annotated[
    str, typer.Option(help="Why, in words kept with the record (3 to 500 characters).")
]
# Holds set or lifted by hand carry this actor in their record.
CLI_ACTOR = "cli"


def _hold_reason(reason: str) -> str:
    from interview_retention.admin.schemas import HoldRequest

    if not 3 <= len(reason.strip()) <= 500:
        _fail("--reason must be 3 to 500 characters", code=2)
    return HoldRequest(reason=reason).reason


def _print_session(session: Any, message: str, as_json: bool) -> None:
    from interview_retention.sessions.schemas import SessionOut

    if as_json:
        _print_json(SessionOut.of(session).model_dump(by_alias=True, mode="json"))
    else:
        console.print(message)


@hold_app.command("set")
def hold_set(session_id: str, reason: HoldReason, as_json: JsonFlag = False) -> None:
    """Put a session on legal hold: no retention, no purge, no hard delete."""
    from interview_retention.deletion.service import set_legal_hold

    reason = _hold_reason(reason)
    try:
        with transaction() as db:
            session = set_legal_hold(
                db,
                session_id=session_id,
                reason=reason,
                actor=CLI_ACTOR,
                now=utcnow(),
                settings=get_settings(),
            )
    except DomainError as exc:
        _fail(exc.message)
    _print_session(session, f"hold set on {session_id}", as_json)


@hold_app.command("lift")
def hold_lift(session_id: str, reason: HoldReason, as_json: JsonFlag = False) -> None:
    """Lift a legal hold; nothing is deleted sooner than GRACE_DAYS from now."""
    from interview_retention.deletion.service import lift_legal_hold

    reason = _hold_reason(reason)
    try:
        with transaction() as db:
            session = lift_legal_hold(
                db,
                session_id=session_id,
                reason=reason,
                actor=CLI_ACTOR,
                now=utcnow(),
                settings=get_settings(),
            )
    except DomainError as exc:
        _fail(exc.message)
    _print_session(session, f"hold lifted on {session_id}", as_json)


@hold_app.command("history")
def hold_history(session_id: str, as_json: JsonFlag = False) -> None:
    """Every hold set or lifted on a session: when, by whom and why."""
    from interview_retention.deletion.service import hold_history as history

    with transaction() as db:
        events = [
            {
                "action": e.action,
                "reason": e.reason,
                "actor": e.actor,
                "at": e.at.isoformat(),
            }
            for e in history(db, session_id)
        ]
    if as_json:
        _print_json(events)
        return
    if not events:
        _fail(f"no hold was ever set on {session_id}")
    table = Table(title=f"legal holds of {session_id}")
    for column in ("at", "action", "actor", "reason"):
        table.add_column(column)
    for event in events:
        table.add_row(
            event["at"][:19], event["action"], event["actor"], event["reason"]
        )
    console.print(table)


@dead_letters_app.command("list")
def dead_letters_list(
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Dead-lettered (FAILED) notices, oldest first, with why they failed."""
    from interview_retention.admin.schemas import NoticeOut
    from interview_retention.deletion.service import list_notices

    with transaction() as db:
        notices, total = list_notices(db, status="FAILED", limit=limit)
    rows = [NoticeOut.of(n).model_dump(by_alias=True, mode="json") for n in notices]
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"dead letters (oldest {len(rows)} of {total})")
    for column in ("notice", "session", "attempts", "last error"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["sessionId"],
            str(row["attempts"]),
            row["lastError"] or "",
        )
    console.print(table)


@dead_letters_app.command("retry")
def dead_letters_retry(notice_id: int, as_json: JsonFlag = False) -> None:
    """Put a dead-lettered notice back in the queue, from its first attempt."""
    from interview_retention.admin.schemas import NoticeOut
    from interview_retention.deletion.service import retry_notice

    try:
        with transaction() as db:
            notice = retry_notice(db, notice_id, now=utcnow())
    except DomainError as exc:
        _fail(exc.message)
    if as_json:
        _print_json(NoticeOut.of(notice).model_dump(by_alias=True, mode="json"))
        return
    console.print(f"notice {notice_id} queued again; the next notices run sends it")


def _duration(seconds: float | None) -> str | None:
    return None if seconds is None else human_duration(seconds)


def _safe_url() -> str:
    from sqlalchemy.engine import make_url

    return make_url(get_settings().database_url).render_as_string(hide_password=True)
