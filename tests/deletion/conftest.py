"""Fixtures of the deletion tests: a fixed instant, an owner, PostgreSQL helpers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from interview_retention.config import Settings
from interview_retention.sessions.cache import RedisReportCache
from interview_retention.sessions.models import InterviewSession
from interview_retention.users.models import User
from tests.deletion.receivers import (
    WebhookReceiver,
    start_mail_server,
    start_webhook_receiver,
)
from tests.factories import make_session, make_user

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def user(db: Session) -> User:
    return make_user(db)[0]


@pytest.fixture
def old_session(db: Session, user: User, now: datetime) -> InterviewSession:
    """An evaluated session that the retention rule covers at `now`."""
    return make_session(db, user, created_at=now - timedelta(days=100))


@pytest.fixture
def pg_factory(pg_engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=pg_engine, expire_on_commit=False)


@pytest.fixture
def pg_db(pg_factory: sessionmaker[Session]) -> Iterator[Session]:
    with pg_factory() as session:
        yield session


@pytest.fixture
def pg_user(pg_db: Session) -> User:
    return make_user(pg_db)[0]


@pytest.fixture
def pg_cache(pg_settings: Settings, redis_client: redis.Redis) -> RedisReportCache:
    return RedisReportCache(
        redis_client,
        prefix=pg_settings.cache_key_prefix,
        ttl_seconds=pg_settings.report_cache_ttl_seconds,
    )


@pytest.fixture
def mail_server() -> Iterator[tuple[Any, Any]]:
    """An SMTP server on 127.0.0.1 that keeps what it receives."""
    controller, handler = start_mail_server()
    yield controller, handler
    controller.stop()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """An HTTP receiver on 127.0.0.1 that records requests and answers as planned."""
    receiver = start_webhook_receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()
