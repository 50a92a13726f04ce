"""The sample generator: deterministic, realistic, and covering every deletion case."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interview_retention.config import Settings
from interview_retention.sample.generate import write_sample
from interview_retention.sessions.questions import question_bank

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# The default periods, given explicitly so that the environment cannot change them.
SETTINGS = Settings(  # type: ignore[call-arg]
    _env_file=None, recovery_days=30, retention_days=90, grace_days=7
)
STATUSES = {"CREATED", "IN_PROGRESS", "COMPLETED", "EVALUATED", "DELETED"}


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _lines(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as stream:
        return [json.loads(line) for line in stream]


def _sessions(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["type"] == "session"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    path = tmp_path_factory.mktemp("sample") / "sample.jsonl"
    write_sample(path, users=15, sessions=400, seed=7, now=NOW, settings=SETTINGS)
    return _lines(path)


def test_same_seed_and_now_give_identical_bytes(tmp_path: Path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"

    counts_a = write_sample(
        first, users=10, sessions=150, seed=42, now=NOW, settings=SETTINGS
    )
    counts_b = write_sample(
        second, users=10, sessions=150, seed=42, now=NOW, settings=SETTINGS
    )

    assert counts_a == counts_b
    assert first.read_bytes() == second.read_bytes()


def test_another_seed_gives_another_sample(tmp_path: Path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"

    write_sample(first, users=10, sessions=150, seed=1, now=NOW, settings=SETTINGS)
    write_sample(second, users=10, sessions=150, seed=2, now=NOW, settings=SETTINGS)

    assert first.read_bytes() != second.read_bytes()


def test_counts_describe_the_file(tmp_path: Path):
    path = tmp_path / "sample.jsonl"

    counts = write_sample(
        path, users=12, sessions=200, seed=3, now=NOW, settings=SETTINGS
    )

    lines = _lines(path)
    sessions = _sessions(lines)
    kinds = Counter(line["type"] for line in lines)
    assert counts == {
        "users": kinds["user"],
        "resumes": kinds["resume"],
        "sessions": kinds["session"],
        "questions": sum(len(s["questions"]) for s in sessions),
        "answers": sum(len(s["answers"]) for s in sessions),
        "evaluations": sum(s["evaluation"] is not None for s in sessions),
        "reports": sum(s["report"] is not None for s in sessions),
    }
    assert (counts["users"], counts["sessions"]) == (12, 200)


def test_users_then_resumes_then_sessions(sample: list[dict[str, Any]]):
    order = [line["type"] for line in sample]

    first_resume, first_session = order.index("resume"), order.index("session")

    assert set(order[:first_resume]) == {"user"}
    assert set(order[first_resume:first_session]) == {"resume"}
    assert set(order[first_session:]) == {"session"}


def test_users_have_unique_example_emails_and_one_or_two_resumes(
    sample: list[dict[str, Any]],
):
    users = [line for line in sample if line["type"] == "user"]
    resumes = Counter(line["userEmail"] for line in sample if line["type"] == "resume")

    emails = [u["email"] for u in users]

    assert len(set(emails)) == len(emails)
    assert all(e.endswith("@example.com") and e.isascii() for e in emails)
    assert all(" " in u["displayName"] for u in users)
    assert set(resumes) == set(emails)
    assert set(resumes.values()) <= {1, 2}


def test_sessions_use_their_own_users_resumes(sample: list[dict[str, Any]]):
    owner = {
        line["resumeId"]: line["userEmail"]
        for line in sample
        if line["type"] == "resume"
    }

    sessions = _sessions(sample)

    with_resume = [s for s in sessions if s["resumeId"] is not None]
    assert with_resume
    assert all(owner[s["resumeId"]] == s["userEmail"] for s in with_resume)


def test_every_status_is_present(sample: list[dict[str, Any]]):
    statuses = Counter(s["status"] for s in _sessions(sample))

    assert set(statuses) == STATUSES
    # Evaluated sessions are the common case, not an even split.
    assert statuses["EVALUATED"] == max(statuses.values())


def test_ages_spread_over_the_year_before_now(sample: list[dict[str, Any]]):
    created = [_when(s["createdAt"]) for s in _sessions(sample)]

    assert max(created) < NOW
    assert min(created) >= NOW - timedelta(days=366)
    assert min(created) < NOW - timedelta(days=300)
    assert max(created) > NOW - timedelta(days=30)


def test_past_timestamps_never_pass_now(sample: list[dict[str, Any]]):
    for s in _sessions(sample):
        past = [
            s["createdAt"],
            s["updatedAt"],
            s["completedAt"],
            s["evaluatedAt"],
            s["deletedAt"],
            s["retentionNoticeAt"],
            s["legalHoldAt"],
            *(a["submittedAt"] for a in s["answers"]),
        ]
        if s["report"]:
            past.append(s["report"]["generatedAt"])
        moments = [_when(value) for value in past if value is not None]
        assert max(moments) <= NOW
        assert min(moments) == _when(s["createdAt"])


def test_soft_deletes_due_and_inside_the_window(sample: list[dict[str, Any]]):
    deleted = [s for s in _sessions(sample) if s["status"] == "DELETED"]

    due = [s for s in deleted if _when(s["permanentDeleteAt"]) <= NOW]
    waiting = [s for s in deleted if _when(s["permanentDeleteAt"]) > NOW]

    assert due
    assert waiting
    for s in deleted:
        assert s["statusBeforeDeletion"] in STATUSES - {"DELETED"}
        assert s["deletionReason"] == "USER"
        assert (
            _when(s["permanentDeleteAt"])
            == _when(s["deletedAt"]) + SETTINGS.recovery_period
        )


def test_retention_scheduled_sessions_some_past(sample: list[dict[str, Any]]):
    scheduled = [s for s in _sessions(sample) if s["retentionNoticeAt"]]

    assert scheduled
    for s in scheduled:
        notice = _when(s["retentionNoticeAt"])
        assert s["status"] in ("COMPLETED", "EVALUATED")
        assert s["deletionReason"] == "RETENTION"
        assert _when(s["permanentDeleteAt"]) == notice + SETTINGS.grace_period
        assert notice >= _when(s["createdAt"]) + SETTINGS.retention_period
    deadlines = [_when(s["permanentDeleteAt"]) for s in scheduled]
    assert min(deadlines) <= NOW < max(deadlines)


def test_one_or_two_legal_holds(sample: list[dict[str, Any]]):
    held = [s for s in _sessions(sample) if s["legalHold"]]

    assert 1 <= len(held) <= 2
    assert all(s["legalHoldReason"] and s["legalHoldAt"] for s in held)
    # One hold keeps a session whose recovery window has already run out.
    assert any(
        s["status"] == "DELETED" and _when(s["permanentDeleteAt"]) <= NOW for s in held
    )


def test_small_sample_still_has_every_case(tmp_path: Path):
    path = tmp_path / "small.jsonl"

    write_sample(path, users=2, sessions=10, seed=5, now=NOW, settings=SETTINGS)

    sessions = _sessions(_lines(path))
    assert {s["status"] for s in sessions} == STATUSES
    assert any(s["legalHold"] for s in sessions)
    assert any(s["retentionNoticeAt"] for s in sessions)


@pytest.mark.parametrize(
    ("recovery", "retention", "grace"), [(45, 120, 10), (3, 20, 2), (200, 300, 60)]
)
def test_deadlines_and_cases_follow_the_configured_periods(
    tmp_path: Path, recovery: int, retention: int, grace: int
):
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        recovery_days=recovery,
        retention_days=retention,
        grace_days=grace,
    )
    path = tmp_path / "sample.jsonl"

    write_sample(path, users=5, sessions=60, seed=9, now=NOW, settings=settings)

    sessions = _sessions(_lines(path))
    deleted = [s for s in sessions if s["deletedAt"]]
    scheduled = [s for s in sessions if s["retentionNoticeAt"]]
    for s in deleted:
        assert _when(s["permanentDeleteAt"]) == (
            _when(s["deletedAt"]) + settings.recovery_period
        )
    for s in scheduled:
        notice = _when(s["retentionNoticeAt"])
        assert _when(s["permanentDeleteAt"]) == notice + settings.grace_period
        assert notice >= _when(s["createdAt"]) + settings.retention_period
    # Every case keeps its meaning: due and waiting, for both kinds of deadline.
    for group in (deleted, scheduled):
        deadlines = [_when(s["permanentDeleteAt"]) for s in group]
        assert min(deadlines) <= NOW < max(deadlines)
    assert any(
        s["legalHold"] and s["deletedAt"] and _when(s["permanentDeleteAt"]) <= NOW
        for s in sessions
    )


def test_questions_come_from_the_bank_with_their_follow_ups(
    sample: list[dict[str, Any]],
):
    bank = {q.text: q for q in question_bank()}

    for s in _sessions(sample):
        by_id = {q["questionId"]: q for q in s["questions"]}
        originals = [q for q in s["questions"] if q["questionType"] == "ORIGINAL"]
        assert [q["position"] for q in s["questions"]] == list(
            range(len(s["questions"]))
        )
        assert s["questionCount"] == len(originals)
        for q in originals:
            item = bank[q["text"]]
            follow_ups = [
                f["text"]
                for f in s["questions"]
                if f["parentQuestionId"] == q["questionId"]
            ]
            assert q["category"] == item.category
            assert tuple(follow_ups) == item.follow_ups
        for q in s["questions"]:
            if q["questionType"] == "FOLLOW_UP":
                assert by_id[q["parentQuestionId"]]["questionType"] == "ORIGINAL"


def test_answers_match_the_progress_of_the_session(sample: list[dict[str, Any]]):
    for s in _sessions(sample):
        progress = s["statusBeforeDeletion"] or s["status"]
        question_ids = {q["questionId"] for q in s["questions"]}
        assert {a["questionId"] for a in s["answers"]} <= question_ids
        if progress == "CREATED":
            assert s["answers"] == []
        else:
            assert s["answers"]
        for answer in s["answers"]:
            assert len(answer["text"].split()) >= 5
            assert "lorem" not in answer["text"].lower()


def test_evaluated_sessions_have_an_evaluation_and_a_report(
    sample: list[dict[str, Any]],
):
    sessions = _sessions(sample)

    for s in sessions:
        if s["status"] == "EVALUATED":
            assert s["report"] is not None
        progress = s["statusBeforeDeletion"] or s["status"]
        if progress != "EVALUATED":
            assert s["evaluation"] is None
            assert s["report"] is None
            continue
        evaluation = s["evaluation"]
        categories = {q["category"] for q in s["questions"]}
        assert 0 <= evaluation["overallScore"] <= 10
        assert set(evaluation["categoryScores"]) == categories
        assert evaluation["feedback"]
        assert evaluation["strengths"]
        assert evaluation["improvementSuggestions"]
        assert _when(evaluation["createdAt"]) == _when(s["evaluatedAt"])
    deleted_evaluated = [
        s for s in sessions if s["statusBeforeDeletion"] == "EVALUATED"
    ]
    assert any(s["report"] for s in deleted_evaluated)


def test_naive_now_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="timezone-aware"):
        write_sample(
            tmp_path / "x.jsonl",
            users=1,
            sessions=1,
            seed=1,
            now=NOW.replace(tzinfo=None),
            settings=SETTINGS,
        )
