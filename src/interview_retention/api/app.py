"""The FastAPI application: routers, the envelope on every answer, health checks."""

from __future__ import annotations

import hmac
from typing import Any

import redis
import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text
from starlette.exceptions import HTTPException as StarletteHTTPException

from interview_retention import __version__
from interview_retention.admin.api import router as admin_router
from interview_retention.api import envelope
from interview_retention.api.auth_limit import AuthFailureLimit
from interview_retention.api.envelope import error_response, ok
from interview_retention.clock import utcnow
from interview_retention.config import Settings, get_settings
from interview_retention.db.engine import create_db_engine, get_sessionmaker
from interview_retention.deletion.health import Degradation, degradation
from interview_retention.errors import DomainError
from interview_retention.logs import configure_logging
from interview_retention.metrics import registry_for
from interview_retention.sessions.api import exports as exports_router
from interview_retention.sessions.api import router as sessions_router
from interview_retention.sessions.cache import ReportCache, get_report_cache
from interview_retention.users.api import router as users_router
from interview_retention.web import mount_web

log = structlog.get_logger(__name__)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


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
    # When this process began watching the jobs: a job that has never run counts
    # as silent once this is longer ago than its silence limit.
    app.state.started_at = utcnow()
    app.state.auth_limit = AuthFailureLimit(
        settings.auth_failure_limit,
        redis_url=settings.redis_url,
        key_prefix=settings.auth_limit_key_prefix,
    )

    app.add_exception_handler(StarletteHTTPException, envelope.http_error)
    app.add_exception_handler(RequestValidationError, envelope.validation_error)
    app.add_exception_handler(DomainError, envelope.domain_error)
    app.add_exception_handler(Exception, envelope.server_error)
    app.add_middleware(envelope.ServerErrors)

    app.include_router(sessions_router)
    app.include_router(exports_router)
    app.include_router(admin_router)
    app.include_router(users_router)
    mount_web(app)

    @app.get("/healthz", tags=["health"], summary="The process is up")
    def healthz() -> dict[str, Any]:
        return ok({"status": "ok", "version": __version__})

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Database and broker reachable; whether retention keeps up",
        responses=envelope.error_responses(503),
    )
    def readyz() -> Any:
        # 503 only for what makes this process useless: no database or no broker.
        # A purge that has fallen behind, or a silent job, is "degraded" with 200:
        # a load balancer must not take the API out of rotation for it, since
        # every request still answers correctly (deadlines are exact without the
        # purge). Monitoring reads the status and the reasons.
        checks = {"database": _database_ok(app), "broker": _broker_ok(settings)}
        if not all(checks.values()):
            return error_response(
                503,
                "Not ready: "
                + ", ".join(name for name, good in checks.items() if not good),
            )
        found = _degradation(app, settings)
        if found is None or not found.reasons:
            return ok({"status": "ready", "checks": checks})
        return ok(
            {
                "status": "degraded",
                "checks": checks,
                "degraded": found.checks,
                "reasons": found.reasons,
            }
        )

    registry = app.state.metrics_registry = registry_for(
        app.state.sessionmaker, settings, watching_since=app.state.started_at
    )

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics (METRICS_TOKEN as a bearer token when set)",
        response_class=Response,
        responses={
            200: {
                "content": {CONTENT_TYPE_LATEST.split(";")[0]: {}},
                "description": "The Prometheus text exposition format",
            },
            **envelope.error_responses(401, 403),
        },
    )
    def metrics(request: Request) -> Response:
        refused = _metrics_refused(settings, request.headers.get("authorization"))
        if refused is not None:
            return refused
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _database_ok(app: FastAPI) -> bool:
    try:
        with app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        log.warning("readyz.database_unreachable")
        return False
    return True


def _degradation(app: FastAPI, settings: Settings) -> Degradation | None:
    try:
        with app.state.sessionmaker() as db:
            return degradation(
                db,
                now=utcnow(),
                settings=settings,
                watching_since=app.state.started_at,
            )
    except Exception:
        # The database answered SELECT 1 a moment ago; a failed look at the
        # backlog is no reason to call the process unready.
        log.warning("readyz.retention_check_failed")
        return None


def _metrics_refused(settings: Settings, header: str | None) -> Response | None:
    """Why /metrics is refused to this caller, or None to serve it.

    With METRICS_TOKEN set, only `Authorization: Bearer <that token>` is served.
    Without it /metrics is open in development and refused elsewhere, so that a
    deployment never publishes its figures by omission.
    """
    if not settings.metrics_token:
        if settings.environment == "development":
            return None
        return error_response(403, "Metrics are off: set METRICS_TOKEN to serve them")
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), settings.metrics_token.encode()
    ):
        return None
    return error_response(
        401, "Metrics need 'Authorization: Bearer <METRICS_TOKEN>'", _CHALLENGE
    )


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
