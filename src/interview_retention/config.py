"""Every setting of the service, read once from the environment or a `.env` file."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# The embedded default keeps its state under ./var so that `make run` and the CLI,
# both started from the repository root, share one SQLite file and one broker folder.
DEFAULT_VAR_DIR = Path("var")
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_VAR_DIR / 'interview-retention.sqlite3'}"

MAX_PERIOD_DAYS = 36_500

# Signs export links in development only: refused as SECRET_KEY in a deployment.
DEVELOPMENT_SECRET_KEY = "dev-only-key-refused-outside-development"  # noqa: S105

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

    # The periods of the deletion lifecycle. At most a century: a deadline is now
    # plus a period, and a longer one would overflow the calendar (year 9999)
    # at the first soft delete, a 500 instead of a refusal to start.
    recovery_days: int = Field(30, ge=1, le=MAX_PERIOD_DAYS)
    retention_days: int = Field(90, ge=1, le=MAX_PERIOD_DAYS)
    grace_days: int = Field(7, ge=1, le=MAX_PERIOD_DAYS)
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
    # the backlog. Unset, it is one purge interval: the longest gap between two
    # runs of PURGE_SCHEDULE (five minutes by default).
    overdue_after_minutes: int | None = Field(None, ge=1)

    # Dry-run plans: at most this many sessions in one plan (a larger set is cut
    # in the job's own order, and the plan says so), and a plan older than this is
    # refused as stale rather than run against a set it no longer describes.
    plan_max_items: int = Field(100_000, ge=1, le=1_000_000)
    plan_max_age_minutes: int = Field(60, ge=1)

    # Beat schedule, as five-field cron expressions read in SCHEDULE_TIMEZONE: an
    # IANA zone name, so that "0 3 * * *" in Europe/Berlin runs at 03:00 local
    # time in summer and winter alike. Deadlines never depend on it: they are
    # instants, and a run handles whatever is due whenever it starts.
    retention_schedule: str = "7 * * * *"
    notices_schedule: str = "*/5 * * * *"
    purge_schedule: str = "*/5 * * * *"
    schedule_timezone: str = "UTC"

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

    # Guard rails of the jobs. The kill switch pauses all three jobs (each still
    # reports what it would have done); a purge stops after the batch that spends
    # its time budget and queues a run to go on; every batch on PostgreSQL runs
    # under these statement and lock timeouts (0: none), and a batch that meets a
    # busy database (a timeout, a deadlock, a serialization failure) is retried
    # after an exponential backoff with jitter, this many attempts in all.
    deletions_paused: bool = False
    purge_time_budget_seconds: float = Field(300, gt=0)
    batch_statement_timeout_ms: int = Field(30_000, ge=0)
    batch_lock_timeout_ms: int = Field(5_000, ge=0)
    batch_retry_attempts: int = Field(5, ge=1, le=20)
    batch_retry_base_ms: int = Field(200, ge=1)
    batch_retry_max_ms: int = Field(10_000, ge=1)

    # Watching: /readyz answers "degraded" once the oldest overdue session is this
    # late, or once a job has shown no sign of life for its own schedule interval
    # plus HEARTBEAT_MAX_SILENCE_MINUTES. /metrics needs this bearer token when
    # set; unset, it is open in development and refused elsewhere.
    readyz_max_overdue_minutes: int = Field(60, ge=1)
    heartbeat_max_silence_minutes: int = Field(15, ge=1)
    metrics_token: str | None = None

    # One beat: with REDIS_URL, beat keeps its schedule in Redis under this prefix
    # and holds a lock there; a second beat waits for the lock, and takes over
    # within the lock timeout once the first one is gone.
    beat_key_prefix: str = "ir:beat:"
    beat_lock_timeout_seconds: int = Field(30, ge=5)
    # API tokens expire this many days after they were issued; 0 means never.
    token_ttl_days: int = Field(90, ge=0, le=3650)
    # Failed authentications allowed per client address in a moving window, in
    # the `limits` notation ("20/minute", "100 per hour"); past it, 429.
    auth_failure_limit: str = "20/minute"
    # Prefixes the Redis keys of those counts.
    auth_limit_key_prefix: str = "ir:auth-failures"

    # Links that leave the service (the export link of a notice) start with this
    # address, as users reach the API; unset, http://localhost:PORT.
    public_base_url: str | None = None
    # Signs those links. Required outside development: at least 32 characters,
    # kept secret; changing it voids every link already sent.
    secret_key: SecretStr | None = None
    # A signed export link works this long after it was made (and never once its
    # session is gone). Longer than GRACE_DAYS, so a notice's link outlives the
    # grace period it announces.
    export_link_ttl_days: int = Field(30, ge=1, le=365)

    # How a pending-deletion notice reaches its user: a log line (development),
    # an email to the session's owner, or a signed POST to your own webhook.
    notice_channel: Literal["log", "email", "webhook"] = "log"
    # How long a claimed notice stays SENDING before another run may claim it
    # again: a worker that died while sending is noticed after this long. A batch
    # stops sending (and leaves the rest to the next claim) when a send could
    # outrun it.
    notice_lease_seconds: int = Field(900, ge=60, le=86_400)

    # The email channel. SMTP_SECURITY: starttls (upgrade a plain connection,
    # usually port 587), tls (implicit TLS, usually port 465) or none (a relay on
    # a trusted network only). A username needs its password and the reverse.
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65_535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_timeout_seconds: float = Field(10, gt=0, le=300)
    smtp_from: str | None = None

    # The webhook channel: the receiver's URL and the secret both sides share to
    # sign and verify each request (HMAC-SHA256).
    notice_webhook_url: str | None = None
    notice_webhook_secret: SecretStr | None = None
    notice_webhook_timeout_seconds: float = Field(10, gt=0, le=300)

    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("database_url")
    @classmethod
    def _normalize_database_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("auth_failure_limit")
    @classmethod
    def _parse_limit(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError(
                f"AUTH_FAILURE_LIMIT must read like '20/minute', got {value!r}"
            ) from None
        return value

    @field_validator("schedule_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "SCHEDULE_TIMEZONE must be an IANA time zone such as UTC or"
                f" Europe/Berlin, got {value!r}"
            ) from None
        return value

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
    def _budget_ends_before_the_time_limit(self) -> Settings:
        # Past the soft time limit Celery interrupts the run mid-batch; the budget
        # must stop it between batches first.
        soft_limit = max(self.task_time_limit_seconds - 60, 10)
        if self.purge_time_budget_seconds >= soft_limit:
            raise ValueError(
                "PURGE_TIME_BUDGET_SECONDS must be shorter than TASK_TIME_LIMIT_SECONDS"
                f" less 60 seconds ({soft_limit}s)"
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
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if len(key) < 32 or key == DEVELOPMENT_SECRET_KEY:
            missing.append("SECRET_KEY (32 characters or more, your own)")
        if missing:
            raise ValueError(
                f"ENVIRONMENT is {self.environment!r}, which needs "
                + " and ".join(missing)
                + "; set ENVIRONMENT=development to run on the embedded defaults"
            )
        return self

    @model_validator(mode="after")
    def _channel_has_its_settings(self) -> Settings:
        # A worker that starts with half a channel would fail every notice, one
        # retry at a time, for days; it is refused at start-up instead.
        missing = []
        if self.notice_channel == "email":
            if not self.smtp_host:
                missing.append("SMTP_HOST")
            if not self.smtp_from or "@" not in self.smtp_from:
                missing.append("SMTP_FROM (an address)")
            if bool(self.smtp_username) != bool(self.smtp_password):
                missing.append("SMTP_USERNAME and SMTP_PASSWORD together")
        if self.notice_channel == "webhook":
            parts = urlsplit(self.notice_webhook_url or "")
            if parts.scheme not in ("http", "https") or not parts.netloc:
                missing.append("NOTICE_WEBHOOK_URL (an http or https URL)")
            secret = self.notice_webhook_secret
            if secret is None or len(secret.get_secret_value()) < 16:
                missing.append("NOTICE_WEBHOOK_SECRET (16 characters or more)")
        # The links in a notice must reach the deployment, not its localhost.
        if (
            self.notice_channel != "log"
            and self.environment != "development"
            and not self.public_base_url
        ):
            missing.append("PUBLIC_BASE_URL")
        if missing:
            raise ValueError(
                f"NOTICE_CHANNEL is {self.notice_channel!r}, which needs "
                + " and ".join(missing)
            )
        return self

    @property
    def notice_lease(self) -> timedelta:
        return timedelta(seconds=self.notice_lease_seconds)

    @property
    def signing_key(self) -> str:
        """The key export links are signed with."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return DEVELOPMENT_SECRET_KEY

    @property
    def base_url(self) -> str:
        """Where users reach the API, without a trailing slash."""
        return (self.public_base_url or f"http://localhost:{self.port}").rstrip("/")

    @property
    def export_link_ttl(self) -> timedelta:
        return timedelta(days=self.export_link_ttl_days)

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
    def token_ttl(self) -> timedelta | None:
        """How long a token lives, or None if tokens never expire."""
        return timedelta(days=self.token_ttl_days) if self.token_ttl_days else None

    @property
    def overdue_after(self) -> timedelta:
        """How late a due session may be before it counts as overdue."""
        if self.overdue_after_minutes is not None:
            return timedelta(minutes=self.overdue_after_minutes)
        from interview_retention.schedules import longest_gap

        return longest_gap(self.purge_schedule)

    @property
    def readyz_max_overdue(self) -> timedelta:
        return timedelta(minutes=self.readyz_max_overdue_minutes)

    @property
    def heartbeat_max_silence(self) -> timedelta:
        return timedelta(minutes=self.heartbeat_max_silence_minutes)

    @property
    def plan_max_age(self) -> timedelta:
        return timedelta(minutes=self.plan_max_age_minutes)


@lru_cache
def get_settings() -> Settings:
    return Settings()
