"""The FastAPI application: routers, the envelope on every answer, health checks."""

from __future__ import annotations

from typing import Any

import redis
import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Engine, text
from starlette.exceptions import HTTPException as StarletteHTTPException

from interview_retention import __version__
from interview_retention.admin.api import router as admin_router
from interview_retention.api import envelope
from interview_retention.api.envelope import error_response, ok
from interview_retention.config import Settings, get_settings
from interview_retention.db.engine import create_db_engine, get_sessionmaker
from interview_retention.errors import DomainError
from interview_retention.logs import configure_logging
from interview_retention.sessions.api import router as sessions_router
from interview_retention.sessions.cache import ReportCache, get_report_cache

log = structlog.get_logger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    report_cache: ReportCache | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    app = FastAPI(
        title="interview-retention",
        version=__version__,
        description=(
            "Interview-practice sessions and their end of life: soft delete, restore,"
            " hard delete, retention and purges. Every answer is the envelope"
            " {code, message, data}."
        ),
    )
    engine = engine or create_db_engine(settings.database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = get_sessionmaker(engine)
    app.state.report_cache = report_cache or get_report_cache()

    app.add_exception_handler(StarletteHTTPException, envelope.http_error)
    app.add_exception_handler(RequestValidationError, envelope.validation_error)
    app.add_exception_handler(DomainError, envelope.domain_error)
    app.add_exception_handler(Exception, envelope.server_error)
    app.add_middleware(envelope.ServerErrors)

    app.include_router(sessions_router)
    app.include_router(admin_router)

    @app.get("/healthz", tags=["health"], summary="The process is up")
    def healthz() -> dict[str, Any]:
        return ok({"status": "ok", "version": __version__})

    @app.get("/readyz", tags=["health"], summary="Database and broker reachable")
    def readyz() -> Any:
        checks = {"database": _database_ok(app), "broker": _broker_ok(settings)}
        if all(checks.values()):
            return ok({"status": "ready", "checks": checks})
        return error_response(
            503,
            "Not ready: "
            + ", ".join(name for name, good in checks.items() if not good),
        )

    return app


def _database_ok(app: FastAPI) -> bool:
    try:
        with app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        log.warning("readyz.database_unreachable")
        return False
    return True


def _broker_ok(settings: Settings) -> bool:
    if not settings.redis_url:
        return True  # the folder broker is always there
    try:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
        return bool(client.ping())
    except redis.RedisError:
        log.warning("readyz.broker_unreachable")
        return False


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory`."""
    return create_app()
