from pathlib import Path

import pytest
from pydantic import ValidationError

from interview_retention.cli import banner
from interview_retention.config import (
    DEVELOPMENT_SECRET_KEY,
    Settings,
    get_settings,
    normalize_database_url,
    redact_url,
)

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


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://app:s3cret@cache:6379/0", "redis://app:***@cache:6379/0"),
        ("postgresql+psycopg://u:s%2F3cret@h/db", "postgresql+psycopg://u:***@h/db"),
        (
            "postgresql+psycopg://u@h/db?password=s3cret",
            "postgresql+psycopg://u@h/db?password=%2A%2A%2A",
        ),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("sqlite:///var/x.sqlite3", "sqlite:///var/x.sqlite3"),
        ("http://u:s3cret@[::1", "<a URL that cannot be parsed>"),
    ],
    ids=["redis", "redis-user", "quoted", "query", "no-password", "sqlite", "broken"],
)
def test_redact_url_hides_the_password(given, expected):
    assert redact_url(given) == expected


def test_the_banner_prints_no_password(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)  # away from any .env of the checkout
    monkeypatch.setenv("DATABASE_URL", "postgresql://ir:db-s3cret@db:5432/ir")
    monkeypatch.setenv("REDIS_URL", "redis://:redis-s3cret@cache:6379/0")
    get_settings.cache_clear()

    try:
        banner.main()
    finally:
        get_settings.cache_clear()

    printed = capsys.readouterr().out
    assert "s3cret" not in printed
    assert "postgresql+psycopg://ir:***@db:5432/ir" in printed
    assert "redis://:***@cache:6379/0" in printed


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


def test_a_deployment_refuses_the_embedded_defaults():
    with pytest.raises(ValidationError) as refused:
        settings(environment="production")

    assert "DATABASE_URL" in str(refused.value)
    assert "REDIS_URL" in str(refused.value)


def test_a_deployment_with_its_servers_starts():
    config = settings(
        environment="production",
        database_url="postgres://app@db/retention",
        redis_url="redis://cache:6379/0",
        secret_key="k" * 32,
    )

    assert config.database_url == "postgresql+psycopg://app@db/retention"


def test_a_deployment_refuses_sqlite():
    with pytest.raises(ValidationError, match="PostgreSQL"):
        settings(
            environment="production",
            database_url="sqlite:///x.db",
            redis_url="redis://cache:6379/0",
        )


@pytest.mark.parametrize(
    "key", [None, "short", DEVELOPMENT_SECRET_KEY], ids=["unset", "short", "dev-key"]
)
def test_a_deployment_needs_a_secret_key_of_its_own(key):
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        settings(
            environment="production",
            database_url="postgres://app@db/retention",
            redis_url="redis://cache:6379/0",
            secret_key=key,
        )


def test_development_signs_with_its_own_key_and_links_point_at_the_port():
    config = settings(port=8123)

    assert config.signing_key == DEVELOPMENT_SECRET_KEY
    assert config.base_url == "http://localhost:8123"
    assert settings(public_base_url="https://x.example/").base_url == (
        "https://x.example"
    )
