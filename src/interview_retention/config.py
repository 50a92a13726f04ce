"""Every setting of the service, read once from the environment or a `.env` file."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# The embedded default keeps its state under ./var so that `make run` and the CLI,
# both started from the repository root, share one SQLite file and one broker folder.
DEFAULT_VAR_DIR = Path("var")
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_VAR_DIR / 'interview-retention.sqlite3'}"

SESSION_STATUSES = ("CREATED", "IN_PROGRESS", "COMPLETED", "EVALUATED", "DELETED")


def normalize_database_url(url: str) -> str:
    """Accept the `postgres://` spelling of platforms and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact_url(url: str) -> str:
    """A database or Redis URL fit to print: its password, if any, shown as ***."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        # Unparsed, the password cannot be told from the rest of the string.
        return "<a URL that cannot be parsed>"
    # Both libpq and redis-py also take the password as a query parameter.
    if "password" in parsed.query:
        parsed = parsed.update_query_dict({"password": "***"})
    return parsed.render_as_string(hide_password=True)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # `development` allows the embedded defaults; anything else is a deployment,
    # which must name its PostgreSQL database and its Redis.
    environment: str = "development"

    # Where things live.
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    port: int = 8000
    var_dir: Path = DEFAULT_VAR_DIR

    # The periods of the deletion lifecycle.
    recovery_days: int = Field(30, ge=1)
    retention_days: int = Field(90, ge=1)
    grace_days: int = Field(7, ge=1)
    retention_statuses: Annotated[tuple[str, ...], NoDecode] = (
        "COMPLETED",
        "EVALUATED",
    )

    # Batching and retries of the jobs. A purge batch of 400 sessions (about ten
    # thousand rows with their children) holds its locks for ~170 ms on the bench
    # machine; 500 gains 2.5% in throughput for ~200 ms (docs/performance.md).
    purge_batch_size: int = Field(400, ge=1, le=10_000)
    # A pause between two purge batches leaves the database's CPU to requests: on
    # the two-core bench machine 150 ms kept the API's p99 within 1.2x of idle,
    # and the purge ran at 40% of its speed. Worth it where the database has few
    # cores (docs/performance.md).
    purge_pause_ms: int = Field(0, ge=0, le=60_000)
    notice_batch_size: int = Field(200, ge=1, le=10_000)
    retention_batch_size: int = Field(1000, ge=1, le=100_000)
    notice_max_attempts: int = Field(8, ge=1)
    notice_retry_base_seconds: int = Field(60, ge=1)

    # A due session still there this long after its deadline counts as overdue in
    # the backlog: the purge runs every few minutes, so it is falling behind.
    overdue_after_minutes: int = Field(15, ge=1)

    # Beat schedule, as five-field cron expressions evaluated in UTC.
    retention_schedule: str = "7 * * * *"
    notices_schedule: str = "*/5 * * * *"
    purge_schedule: str = "*/5 * * * *"

    # Celery delivery: a task may run this long before it is killed, and the broker
    # redelivers an unacknowledged message only after the visibility timeout.
    task_time_limit_seconds: int = Field(1800, ge=10)
    task_retry_backoff_max_seconds: int = Field(600, ge=1)
    broker_visibility_timeout_seconds: int = Field(7200, ge=60)
    # Prefixes every broker key in Redis; lets several deployments (or the test
    # suite) share one Redis without seeing each other's queues.
    broker_key_prefix: str = ""

    # Report cache (Redis only; without REDIS_URL nothing is cached).
    report_cache_ttl_seconds: int = Field(3600, ge=1)
    cache_key_prefix: str = "ir:"

    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("database_url")
    @classmethod
    def _normalize_database_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("retention_statuses", mode="before")
    @classmethod
    def _split_statuses(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip().upper() for part in value.split(",") if part.strip()]
        return value

    @field_validator("retention_statuses")
    @classmethod
    def _known_statuses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [s for s in value if s not in SESSION_STATUSES or s == "DELETED"]
        if unknown or not value:
            raise ValueError(
                "RETENTION_STATUSES must list some of CREATED, IN_PROGRESS, COMPLETED,"
                f" EVALUATED; got {', '.join(value) or 'nothing'}"
            )
        return value

    @model_validator(mode="after")
    def _visibility_outlives_tasks(self) -> Settings:
        # A message redelivered while its first delivery is still running would run
        # the job twice at once; the jobs tolerate that, but it wastes the database.
        needed = self.task_time_limit_seconds + self.task_retry_backoff_max_seconds
        if self.broker_visibility_timeout_seconds <= needed:
            raise ValueError(
                "BROKER_VISIBILITY_TIMEOUT_SECONDS must exceed TASK_TIME_LIMIT_SECONDS"
                f" + TASK_RETRY_BACKOFF_MAX_SECONDS ({needed}s)"
            )
        return self

    @model_validator(mode="after")
    def _deployments_name_their_servers(self) -> Settings:
        # A worker started without DATABASE_URL would otherwise purge a SQLite file
        # of its own and take tasks from a folder nobody writes to, silently.
        if self.environment == "development":
            return self
        missing = []
        if not self.database_url.startswith("postgresql"):
            missing.append("DATABASE_URL (a PostgreSQL URL)")
        if not self.redis_url:
            missing.append("REDIS_URL")
        if missing:
            raise ValueError(
                f"ENVIRONMENT is {self.environment!r}, which needs "
                + " and ".join(missing)
                + "; set ENVIRONMENT=development to run on the embedded defaults"
            )
        return self

    @property
    def recovery_period(self) -> timedelta:
        return timedelta(days=self.recovery_days)

    @property
    def retention_period(self) -> timedelta:
        return timedelta(days=self.retention_days)

    @property
    def grace_period(self) -> timedelta:
        return timedelta(days=self.grace_days)

    @property
    def overdue_after(self) -> timedelta:
        return timedelta(minutes=self.overdue_after_minutes)


@lru_cache
def get_settings() -> Settings:
    return Settings()
