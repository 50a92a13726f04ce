"""Bench data, written with PostgreSQL's COPY.

A full data set has users with tokens, resumes, and sessions in every state with
their children: ten questions (seven asked, three follow-ups), an answer to each,
an evaluation and a report, and a sent notice for those the retention rule
scheduled. A share of the sessions is due (deadline passed, no hold). The rows of
each kind are mixed and written in the order they were created, so due sessions
lie scattered over the table's pages among those of their time, as they would
after months of use.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

from bench.pg import libpq

TOKEN_PREFIX = "irt_bench_"
ORIGINALS = 7
# Follow-ups hang off these originals: ten questions per session in all.
FOLLOWED_UP = (0, 2, 4)
QUESTIONS = ORIGINALS + len(FOLLOWED_UP)
CATEGORIES = ("javascript", "css", "react", "typescript", "testing", "http")

SESSION_COLUMNS = (
    "id",
    "user_id",
    "resume_id",
    "status",
    "status_before_deletion",
    "question_count",
    "config",
    "created_at",
    "updated_at",
    "completed_at",
    "evaluated_at",
    "deleted_at",
    "permanent_delete_at",
    "deletion_reason",
    "retention_notice_at",
    "notice_cycle",
    "legal_hold",
    "legal_hold_reason",
    "legal_hold_at",
)
COPIES = {
    "users": (
        "id",
        "email",
        "display_name",
        "role",
        "token_hash",
        "token_created_at",
        "created_at",
    ),
    "resumes": ("id", "user_id", "title", "created_at"),
    "interview_sessions": SESSION_COLUMNS,
    "questions": (
        "id",
        "session_id",
        "parent_question_id",
        "position",
        "question_type",
        "category",
        "text",
    ),
    "answers": ("id", "session_id", "question_id", "text", "submitted_at"),
    "evaluations": (
        "id",
        "session_id",
        "overall_score",
        "feedback",
        "category_scores",
        "strengths",
        "improvement_suggestions",
        "created_at",
    ),
    "reports": ("id", "session_id", "content", "generated_at"),
    "deletion_notices": (
        "session_id",
        "cycle",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "sent_at",
    ),
}

# Words for made-up questions and answers; one string keeps them compact.
WORDS = (  # noqa: SIM905
    "closure scope hoisting event loop promise render state effect memo layout "
    "flexbox grid cascade specificity selector request response cache header "
    "token stream buffer async await mock fixture assertion coverage bundle "
    "module import export interface generic union narrowing reducer context"
).split()


def token_for(user_id: str) -> str:
    """The bench user's bearer token; bench data is thrown away with its database."""
    return TOKEN_PREFIX + user_id


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Pools:
    """Texts drawn once and reused, so that generating rows stays cheap."""

    rng: random.Random
    questions: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.questions = [self._text(8, 16).capitalize() + "?" for _ in range(256)]
        self.answers = [self._text(50, 80) for _ in range(512)]
        self.feedback = [self._text(30, 60) for _ in range(128)]
        self.reports = [
            json.dumps(
                {
                    "summary": self._text(40, 70),
                    "score": round(self.rng.uniform(3, 9.5), 1),
                    "sections": [
                        {"category": c, "notes": self._text(15, 30)}
                        for c in self.rng.sample(CATEGORIES, 3)
                    ],
                }
            )
            for _ in range(64)
        ]

    def _text(self, low: int, high: int) -> str:
        return " ".join(self.rng.choices(WORDS, k=self.rng.randint(low, high)))


# Shares of the sessions that are not due, by kind (they add up to one).
LIVE_KINDS = (
    ("CREATED", 0.05),
    ("IN_PROGRESS", 0.10),
    ("COMPLETED", 0.20),
    ("EVALUATED", 0.52),
    ("SOFT_DELETED", 0.05),
    ("SCHEDULED", 0.05),
    ("ABANDONED", 0.025),
    ("HELD", 0.005),
)


# Of the due sessions, those the user deleted; the rule's own deletions are the
# rest. Every completed session meets the retention rule within 97 days, so it
# deletes most; users delete some of theirs sooner.
DUE_BY_USER = 0.2


def kinds(total: int, due: int, rng: random.Random, *, covered: int = 0) -> list[str]:
    """The kind of each of `total` sessions, shuffled: `due` of them due and
    `covered` newly covered by the retention rule (no notice yet)."""
    live = total - due - covered
    by_user = round(due * DUE_BY_USER)
    out = ["DUE_USER"] * by_user + ["DUE_RETENTION"] * (due - by_user)
    out += ["COVERED"] * covered
    counts = [int(live * share) for _, share in LIVE_KINDS]
    counts[3] += live - sum(counts)  # rounding goes to EVALUATED
    for (kind, _), n in zip(LIVE_KINDS, counts, strict=True):
        out += [kind] * n
    rng.shuffle(out)
    return out


class Builder:
    """Writes one data set: rows go to one COPY per table, each on its connection."""

    def __init__(self, url: str, *, now: datetime, seed: int) -> None:
        self.url = url
        self.now = now
        self.rng = random.Random(seed)
        self.pools = Pools(random.Random(seed + 1))
        self.rows: dict[str, int] = dict.fromkeys(COPIES, 0)

    def build(
        self, sessions: int, due: int, *, covered: int = 0, children: bool = True
    ) -> None:
        users = max(1, -(-sessions // 20))
        user_ids = [str(uuid.uuid4()) for _ in range(users)]
        # Rows are written in the order the sessions were created, as a table
        # that only ever grows lays them out: a session's children sit near it,
        # and the due ones are scattered among the sessions of their time.
        plan = sorted(
            (*self._dates(kind), kind, self.rng.choice(user_ids))
            for kind in kinds(sessions, due, self.rng, covered=covered)
        )
        tables = list(COPIES) if children else ["users", "interview_sessions"]
        with ExitStack() as stack:
            copies = {t: stack.enter_context(self._copy(t)) for t in tables}
            self._users(copies, user_ids)
            for created, anchor, kind, user_id in plan:
                self._session(copies, kind, user_id, created, anchor, children)

    def _dates(self, kind: str) -> tuple[datetime, datetime]:
        """When a session of `kind` was created, and the instant its state turns on:
        its deadline, the notice, or the soft delete."""
        rng, now = self.rng, self.now
        deadline = now - timedelta(days=rng.uniform(1 / 1440, 30))
        if kind == "DUE_RETENTION":
            # Noticed within a day of turning 90 days old, deleted 7 days later.
            return deadline - timedelta(days=97 + rng.uniform(0, 1)), deadline
        if kind in ("DUE_USER", "HELD"):
            # Deleted by the user at any time after it was made.
            return deadline - timedelta(days=rng.uniform(31, 300)), deadline
        if kind == "SCHEDULED":
            noticed = now - timedelta(days=rng.uniform(0, 6.9))
            return now - timedelta(days=rng.uniform(90, 97)), noticed
        if kind == "SOFT_DELETED":
            deleted = now - timedelta(days=rng.uniform(0, 29))
            return deleted - timedelta(days=rng.uniform(0, 50)), deleted
        if kind == "COVERED":
            # Turned 90 days old since the rule last ran.
            return now - timedelta(days=rng.uniform(90.01, 90.2)), now
        if kind == "ABANDONED":
            # Left half done long ago: the retention rule never covers these.
            return now - timedelta(days=rng.uniform(91, 700)), now
        return now - timedelta(days=rng.uniform(1, 80)), now

    def _copy(self, table: str) -> Any:
        stack = ExitStack()
        conn = stack.enter_context(psycopg.connect(libpq(self.url)))
        # Every row is consistent by construction; skipping the foreign-key
        # triggers lets COPY run at disk speed (needs a superuser, as the bench's
        # own PostgreSQL is).
        conn.execute("SET session_replication_role = replica")
        cur = conn.cursor()
        columns = ", ".join(COPIES[table])
        copy = stack.enter_context(cur.copy(f"COPY {table} ({columns}) FROM STDIN"))
        return _Counted(stack, copy, self.rows, table)

    def _users(self, copies: dict[str, Any], user_ids: list[str]) -> None:
        created = self.now - timedelta(days=800)
        for uid in user_ids:
            copies["users"].write(
                (
                    uid,
                    f"{uid}@bench.invalid",
                    "",
                    "user",
                    _hash(token_for(uid)),
                    # Issued now: an 800-day-old token would be expired
                    # (TOKEN_TTL_DAYS) and every API request of the bench a 401.
                    self.now,
                    created,
                )
            )
            if "resumes" in copies:
                copies["resumes"].write((uid, uid, "Engineer", created))

    def _session(
        self,
        copies: dict[str, Any],
        kind: str,
        user_id: str,
        created: datetime,
        anchor: datetime,
        children: bool,
    ) -> None:
        rng = self.rng
        sid = str(uuid.uuid4())
        row: dict[str, Any] = dict.fromkeys(SESSION_COLUMNS)
        row.update(
            id=sid,
            user_id=user_id,
            resume_id=user_id if children and rng.random() < 0.5 else None,
            question_count=ORIGINALS,
            config=json.dumps({"categories": rng.sample(CATEGORIES, 2)}),
            notice_cycle=0,
            legal_hold=False,
        )
        status, answered, evaluated = "EVALUATED", QUESTIONS, True
        if kind in ("CREATED", "IN_PROGRESS", "COMPLETED", "ABANDONED"):
            status = "IN_PROGRESS" if kind == "ABANDONED" else kind
            answered = {"CREATED": 0, "COMPLETED": QUESTIONS}.get(status, 4)
            evaluated = False
        elif kind == "SOFT_DELETED":
            row.update(
                status_before_deletion="EVALUATED",
                deleted_at=anchor,
                permanent_delete_at=anchor + timedelta(days=30),
                deletion_reason="USER",
            )
            status = "DELETED"
        elif kind == "SCHEDULED":
            row.update(
                retention_notice_at=anchor,
                permanent_delete_at=anchor + timedelta(days=7),
                deletion_reason="RETENTION",
            )
        elif kind in ("DUE_USER", "HELD"):
            row.update(
                status_before_deletion="EVALUATED",
                deleted_at=anchor - timedelta(days=30),
                permanent_delete_at=anchor,
                deletion_reason="USER",
            )
            status = "DELETED"
            if kind == "HELD":
                row.update(
                    legal_hold=True,
                    legal_hold_reason="litigation",
                    legal_hold_at=anchor - timedelta(days=1),
                )
        elif kind == "DUE_RETENTION":
            noticed = anchor - timedelta(days=7)
            row.update(
                retention_notice_at=noticed,
                permanent_delete_at=anchor,
                deletion_reason="RETENTION",
            )
            if "deletion_notices" in copies:
                copies["deletion_notices"].write(
                    (sid, 0, "SENT", 1, noticed, noticed, noticed)
                )
        row.update(status=status, created_at=created, updated_at=created)
        if answered == QUESTIONS:
            row["completed_at"] = created + timedelta(minutes=40)
        if evaluated:
            row["evaluated_at"] = created + timedelta(minutes=45)
        copies["interview_sessions"].write(tuple(row.values()))
        if children:
            self._children(copies, sid, created, answered, evaluated)

    def _children(
        self,
        copies: dict[str, Any],
        sid: str,
        created: datetime,
        answered: int,
        evaluated: bool,
    ) -> None:
        rng, pools = self.rng, self.pools
        question_ids = []
        originals = []
        for position in range(ORIGINALS):
            qid = str(uuid.uuid4())
            originals.append(qid)
            question_ids.append(qid)
            copies["questions"].write(
                (
                    qid,
                    sid,
                    None,
                    position,
                    "ORIGINAL",
                    rng.choice(CATEGORIES),
                    rng.choice(pools.questions),
                )
            )
        for n, parent in enumerate(FOLLOWED_UP):
            qid = str(uuid.uuid4())
            question_ids.append(qid)
            copies["questions"].write(
                (
                    qid,
                    sid,
                    originals[parent],
                    ORIGINALS + n,
                    "FOLLOW_UP",
                    rng.choice(CATEGORIES),
                    rng.choice(pools.questions),
                )
            )
        for n, qid in enumerate(question_ids[:answered]):
            copies["answers"].write(
                (
                    str(uuid.uuid4()),
                    sid,
                    qid,
                    rng.choice(pools.answers),
                    created + timedelta(minutes=2 + 3 * n),
                )
            )
        if not evaluated:
            return
        copies["evaluations"].write(
            (
                str(uuid.uuid4()),
                sid,
                round(rng.uniform(3, 9.5), 1),
                rng.choice(pools.feedback),
                json.dumps({c: rng.randint(3, 10) for c in CATEGORIES[:3]}),
                json.dumps(["clear explanations"]),
                json.dumps(["practise layout questions"]),
                created + timedelta(minutes=45),
            )
        )
        copies["reports"].write(
            (
                str(uuid.uuid4()),
                sid,
                rng.choice(pools.reports),
                created + timedelta(minutes=46),
            )
        )


class _Counted:
    """A COPY in progress that counts its rows; closing it commits."""

    def __init__(
        self, stack: ExitStack, copy: Any, rows: dict[str, int], table: str
    ) -> None:
        self._stack, self._copy, self._rows, self._table = stack, copy, rows, table

    def __enter__(self) -> _Counted:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.__exit__(*exc)

    def write(self, row: tuple[Any, ...]) -> None:
        self._copy.write_row(row)
        self._rows[self._table] += 1


def finish(url: str) -> None:
    """Statistics and visibility maps for the planner, as an old table would have.

    Autovacuum is switched off on the bench tables, so that no vacuum starts in
    the middle of one variant and not another: every variant then writes and
    reads the same pages.
    """
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        for table in COPIES:
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        conn.execute("VACUUM (ANALYZE, FREEZE)")


def iter_due_ids(conn: psycopg.Connection, now: datetime) -> Iterator[str]:
    yield from (
        r[0]
        for r in conn.execute(
            "SELECT id FROM interview_sessions WHERE permanent_delete_at <= %s"
            " AND legal_hold = false ORDER BY permanent_delete_at",
            (now,),
        )
    )
