"""A walk over the schema: whatever belongs to a session goes with it, nothing more.

Adding a child table without `ON DELETE CASCADE`, without `passive_deletes`, or
outside `session_child_tables()` fails here.
"""

from __future__ import annotations

import pytest
from sqlalchemy import (
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    inspect,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import RelationshipDirection

from interview_retention.db.engine import create_db_engine
from interview_retention.db.models import Base
from interview_retention.deletion.service import session_child_tables
from interview_retention.sessions.models import InterviewSession, Question
from tests.deletion.support import child_rows
from tests.factories import make_session, make_user

ROOT = "interview_sessions"
NEVER_DELETED = {"resumes", "users"}


def owned_by_sessions(metadata: MetaData) -> tuple[set[str], list[ForeignKey]]:
    """Tables whose rows a session's deletion reaches, and the keys it goes through.

    A table is reached when any of its foreign keys points at the session table
    or at a table already reached, whatever that key's ON DELETE says.
    """
    reached = {ROOT}
    keys: list[ForeignKey] = []
    changed = True
    while changed:
        changed = False
        for table in metadata.tables.values():
            for fk in table.foreign_keys:
                if fk.column.table.name in reached and fk not in keys:
                    keys.append(fk)
                    if table.name not in reached:
                        reached.add(table.name)
                        changed = True
    return reached - {ROOT}, keys


def not_cascading(keys: list[ForeignKey]) -> list[str]:
    return [
        f"{fk.parent.table.name}.{fk.parent.name}"
        for fk in keys
        if (fk.ondelete or "").upper() != "CASCADE"
    ]


def test_every_foreign_key_into_a_session_cascades():
    _, keys = owned_by_sessions(Base.metadata)

    assert not_cascading(keys) == []
    assert len(keys) >= 6


def test_session_children_are_the_expected_tables():
    owned, _ = owned_by_sessions(Base.metadata)

    assert owned == {
        "questions",
        "answers",
        "evaluations",
        "reports",
        "deletion_notices",
    }


def test_no_cascade_path_from_sessions_reaches_resumes_or_users():
    owned, _ = owned_by_sessions(Base.metadata)

    assert owned & NEVER_DELETED == set()


def test_deletion_log_has_no_foreign_key_to_sessions():
    owned, _ = owned_by_sessions(Base.metadata)

    assert Base.metadata.tables["deletion_log"].foreign_keys == set()
    assert "deletion_log" not in owned


def test_session_child_tables_covers_every_owned_table():
    owned, _ = owned_by_sessions(Base.metadata)

    assert {table.name for table in session_child_tables()} == owned


def test_session_relationships_leave_deletes_to_database():
    owned, _ = owned_by_sessions(Base.metadata)
    to_children = [
        relationship
        for mapper in Base.registry.mappers
        for relationship in mapper.relationships
        if relationship.direction is RelationshipDirection.ONETOMANY
        and relationship.target.name in owned
    ]

    assert {r.key for r in to_children} >= {"questions", "answers", "report"}
    assert [r.key for r in to_children if not r.passive_deletes] == []


def test_walk_catches_child_table_without_cascade():
    scratch = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(scratch)
    Table(
        "notes",
        scratch,
        Column("id", Integer, primary_key=True),
        Column("session_id", String(36), ForeignKey("interview_sessions.id")),
    )

    _, keys = owned_by_sessions(scratch)

    assert not_cascading(keys) == ["notes.session_id"]


def test_walk_catches_cascade_into_resumes():
    scratch = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(scratch)
    resumes = scratch.tables["resumes"]
    resumes.append_column(Column("question_id", String(36)))
    resumes.append_constraint(
        ForeignKeyConstraint(["question_id"], ["questions.id"], ondelete="CASCADE")
    )

    owned, _ = owned_by_sessions(scratch)

    assert owned & NEVER_DELETED == {"resumes"}


def test_migrated_foreign_keys_into_sessions_cascade(engine):
    owned, _ = owned_by_sessions(Base.metadata)
    inspector = inspect(engine)
    reflected = {
        (table, tuple(fk["constrained_columns"])): (fk.get("options") or {})
        .get("ondelete", "")
        .upper()
        for table in owned
        for fk in inspector.get_foreign_keys(table)
    }

    assert reflected
    assert {key: rule for key, rule in reflected.items() if rule != "CASCADE"} == {}


def test_migrated_deletion_log_has_no_foreign_key(engine):
    assert inspect(engine).get_foreign_keys("deletion_log") == []


def test_deleting_session_row_cascades_in_database(db):
    user, _ = make_user(db)
    session = make_session(db, user)

    db.execute(delete(InterviewSession).where(InterviewSession.id == session.id))
    db.commit()

    assert set(child_rows(db, session.id).values()) == {0}


def test_child_row_with_unknown_session_is_refused(db):
    db.add(Question(session_id="no-such-session", position=0, text="Orphan?"))

    with pytest.raises(IntegrityError):
        db.commit()


def test_sqlite_engine_turns_foreign_keys_on(sqlite_url):
    engine = create_db_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            enforced = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
    finally:
        engine.dispose()

    assert enforced == 1


def test_sqlite_engine_refuses_orphan_child_row(sqlite_url):
    engine = create_db_engine(sqlite_url)
    try:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                Question.__table__.insert().values(
                    id="orphan",
                    session_id="no-such-session",
                    position=0,
                    question_type="ORIGINAL",
                    category="",
                    text="Orphan?",
                )
            )
    finally:
        engine.dispose()
