from pathlib import Path

import pytest
from pydantic import ValidationError

from interview_retention.config import Settings, normalize_database_url

README = Path(__file__).resolve().parents[1] / "README.md"


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_defaults_are_the_contracts_periods():
    config = settings()

    assert (config.recovery_days, config.retention_days, config.grace_days) == (
        30,
        90,
        7,
    )
    assert config.retention_statuses == ("COMPLETED", "EVALUATED")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_url_is_normalized(given, expected):
    assert normalize_database_url(given) == expected


def test_retention_statuses_are_read_from_a_comma_list(monkeypatch):
    monkeypatch.setenv("RETENTION_STATUSES", "completed, EVALUATED ,IN_PROGRESS")

    config = Settings(_env_file=None)  # type: ignore[call-arg]

    assert config.retention_statuses == ("COMPLETED", "EVALUATED", "IN_PROGRESS")


@pytest.mark.parametrize("value", ["DELETED", "FINISHED", ""])
def test_unknown_or_deleted_retention_status_is_refused(monkeypatch, value):
    monkeypatch.setenv("RETENTION_STATUSES", value)

    with pytest.raises(ValidationError, match="RETENTION_STATUSES"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_visibility_timeout_must_outlive_the_longest_task():
    with pytest.raises(ValidationError, match="VISIBILITY_TIMEOUT"):
        settings(
            task_time_limit_seconds=3600,
            task_retry_backoff_max_seconds=600,
            broker_visibility_timeout_seconds=4000,
        )


def test_readme_lists_every_setting():
    text = README.read_text(encoding="utf-8")

    missing = [
        name.upper()
        for name in Settings.model_fields
        if f"`{name.upper()}`" not in text
    ]

    assert missing == []
