"""Real processes for the fault scenarios and the load run.

A scenario gets a PostgreSQL database of its own (created, migrated and dropped
here), a Redis server of its own on a free port (so that it can be stopped and
started again without touching the shared one), and Celery workers, beats and
the API as subprocesses reading their settings from the environment, as in
production. Every process starts in a process group of its own and the group is
killed when the scenario ends, whatever happened.

Faults are made from outside the service: a PostgreSQL trigger that sleeps in
the middle of a batch's transaction (`Database.pause`), `pg_terminate_backend`
on this database's backends, signals to processes, and stopping Redis.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from interview_retention.config import Settings
from interview_retention.db.engine import create_db_engine
from tests.conftest import PG_ADMIN_URL, migrate

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
APP = "interview_retention.worker.celery_app:celery_app"


class ScenarioFailed(AssertionError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    done: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    watch: list[Process] | tuple[Process, ...] = (),
    every: float = 0.2,
) -> Any:
    """Poll `done` until it returns something true; fail with the logs if it never
    does, or if a watched process exits meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        result = done()
        if result:
            return result
        for proc in watch:
            if not proc.alive():
                raise ScenarioFailed(
                    f"{proc.name} exited while waiting for {what}:\n{proc.tail()}"
                )
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.name}\n{p.tail()}" for p in watch)
            raise ScenarioFailed(
                f"timed out after {timeout}s waiting for {what}\n{logs}"
            )
        time.sleep(every)


# -- PostgreSQL ------------------------------------------------------------------

PAUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION chaos_pause() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint := nextval(TG_ARGV[0]::regclass);
BEGIN
    -- Sequences are not rolled back, so a row or statement counted by a
    -- transaction that is later killed still counts: each pause happens once.
    IF n = ANY(string_to_array(TG_ARGV[1], ',')::bigint[]) THEN
        PERFORM pg_sleep(TG_ARGV[2]::float8);
    END IF;
    IF TG_LEVEL = 'ROW' THEN
        RETURN COALESCE(NEW, OLD);
    END IF;
    RETURN NULL;
END $$
"""


@dataclass
class Database:
    name: str
    url: str
    engine: Engine
    factory: sessionmaker[Session]

    def url_for(self, role: str) -> str:
        """This database's URL for one process, named so its backends can be found."""
        parsed = make_url(self.url).update_query_dict({"application_name": role})
        return parsed.render_as_string(hide_password=False)

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def execute(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(sql), params)

    def pause(
        self,
        table: str,
        *,
        event: str,
        at: tuple[int, ...],
        seconds: float,
        level: str = "ROW",
    ) -> str:
        """Sleep `seconds` inside the rows (or statements) number `at` (counted
        from 1, across transactions) that `event` (INSERT, UPDATE, DELETE) on
        `table`, in the transaction of whoever runs them. Returns the tag."""
        tag = f"{table}_{event}_{level}".lower()
        positions = ",".join(str(n) for n in at)
        self.execute(PAUSE_FUNCTION)
        self.execute(f"CREATE SEQUENCE chaos_seq_{tag}")
        self.execute(
            f"CREATE TRIGGER chaos_pause_{tag} BEFORE {event} ON {table}"
            f" FOR EACH {level} EXECUTE FUNCTION chaos_pause("
            f"'chaos_seq_{tag}', '{positions}', '{seconds}')"
        )
        return tag

    def sleeping(self, role_prefix: str = "") -> list[int]:
        """Backends of this database inside pg_sleep: a batch held mid-transaction."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname ="
                        " current_database() AND wait_event = 'PgSleep'"
                        " AND xact_start IS NOT NULL"
                        " AND application_name LIKE :prefix"
                    ),
                    {"prefix": f"{role_prefix}%"},
                ).scalars()
            )

    def backends(self) -> list[int]:
        """Every backend connected to this database."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity"
                        " WHERE datname = current_database()"
                    )
                ).scalars()
            )

    def terminate(self, role_prefix: str) -> int:
        """Cut every connection of this database whose process is `role_prefix`*."""
        with self.engine.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
                    " FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name LIKE :prefix AND pid <> pg_backend_pid()"
                ),
                {"prefix": f"{role_prefix}%"},
            ).scalar()
        return int(killed or 0)


@contextlib.contextmanager
def scenario_database(tag: str) -> Iterator[Database]:
    """A fresh, migrated database that only this scenario uses; dropped after."""
    name = f"ir_chaos_{tag}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = (
        make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    )
    engine = create_db_engine(url)
    try:
        migrate(url)
        yield Database(
            name, url, engine, sessionmaker(bind=engine, expire_on_commit=False)
        )
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- Processes -------------------------------------------------------------------


@dataclass
class Process:
    name: str
    args: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.args,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # A group of its own: the scenario kills the process and every
                # child it forked, and nothing else.
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def children(self) -> list[int]:
        """Direct children (a prefork worker's pool processes)."""
        try:
            path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
            return [int(p) for p in path.read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            return []

    def signal_group(self, sig: int) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM, then SIGKILL of the whole group; always reaps."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL the whole group at once: no shutdown code runs anywhere."""
        self.signal_group(signal.SIGKILL)
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=10)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, chars: int = 4000) -> str:
        return self.text()[-chars:]

    def received(self, task_id: str) -> list[datetime]:
        """When this worker took a message of `task_id` from the broker."""
        stamps = []
        for line in self.text().splitlines():
            if line.endswith(f"[{task_id}] received") and line.startswith("["):
                stamp = line[1:24]
                stamps.append(
                    datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC)
                )
        return stamps

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The structured log lines this process wrote, optionally one event only."""
        found = []
        for line in self.text().splitlines():
            start = line.find('{"')
            if start < 0:
                continue
            try:
                record = json.loads(line[start:])
            except ValueError:
                continue
            if isinstance(record, dict) and (
                name is None or record.get("event") == name
            ):
                found.append(record)
        return found


class RedisServer:
    """A Redis server of the scenario's own, with an append-only file, as a broker
    in production keeps one: stopping and starting it keeps queued messages."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def start(self) -> RedisServer:
        self.process = Process(
            f"redis-{self.port}",
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.folder),
                "--daemonize",
                "no",
            ],
            env=dict(os.environ),
            cwd=self.folder,
            log=self.folder / "redis.log",
        ).start()
        wait_until(self._answers, timeout=20, what="redis to answer")
        return self

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """Kill the server outright, as a crash or an OOM kill would."""
        if self.process is not None:
            self.process.kill()


def fit_purge_budget(env: dict[str, str]) -> None:
    """Bring PURGE_TIME_BUDGET_SECONDS under a lowered TASK_TIME_LIMIT_SECONDS.

    The settings refuse a budget that does not end before Celery's soft time
    limit (the time limit less 60 s, at least 10 s), and its default (300 s)
    does not fit the short limits that let a scenario wait out a visibility
    timeout within a minute. Unless the scenario names a budget, it gets one
    second less than that soft limit (9 s under a 40 s limit): a purge there
    stops after the batch that runs past it and queues a run to go on, as it
    would in production.
    """
    if "TASK_TIME_LIMIT_SECONDS" not in env or "PURGE_TIME_BUDGET_SECONDS" in env:
        return
    soft_limit = max(int(env["TASK_TIME_LIMIT_SECONDS"]) - 60, 10)
    default = Settings.model_fields["purge_time_budget_seconds"].default
    if default >= soft_limit:
        env["PURGE_TIME_BUDGET_SECONDS"] = str(soft_limit - 1)


@dataclass
class Stack:
    """The processes of one scenario, all stopped when it ends."""

    db: Database
    redis: RedisServer
    folder: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    prefix: str = field(default_factory=lambda: f"irchaos:{uuid.uuid4().hex[:8]}:")

    def base_env(self, role: str, **overrides: Any) -> dict[str, str]:
        var = self.folder / role
        var.mkdir(parents=True, exist_ok=True)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PYTEST_", "COV_"))
        }
        env.update(
            {
                "ENVIRONMENT": "development",
                "DATABASE_URL": self.db.url_for(role),
                "REDIS_URL": self.redis.url,
                "BROKER_KEY_PREFIX": f"{self.prefix}broker:",
                "CACHE_KEY_PREFIX": self.prefix,
                "BEAT_KEY_PREFIX": f"{self.prefix}beat:",
                "VAR_DIR": str(var),
                "LOG_LEVEL": "INFO",
                "LOG_JSON": "true",
                "PYTHONUNBUFFERED": "1",
                # The checkout comes first on the path of every process started.
                "PYTHONPATH": str(ROOT),
            }
        )
        env.update(self.env)
        env.update({key: str(value) for key, value in overrides.items()})
        fit_purge_budget(env)
        return env

    def spawn(self, role: str, args: list[str], **env: Any) -> Process:
        folder = self.folder / role
        folder.mkdir(parents=True, exist_ok=True)
        proc = Process(
            role, args, self.base_env(role, **env), folder, folder / "out.log"
        )
        self.processes.append(proc)
        return proc.start()

    def worker(
        self,
        role: str,
        *,
        pool: str = "prefork",
        concurrency: int = 1,
        app: str = APP,
        **env: Any,
    ) -> Process:
        return self.workers([role], pool=pool, concurrency=concurrency, app=app, **env)[
            0
        ]

    def workers(
        self,
        roles: list[str],
        *,
        pool: str = "prefork",
        concurrency: int = 1,
        app: str = APP,
        **env: Any,
    ) -> list[Process]:
        """Start one worker per role at once; return when every one is ready."""
        procs = [
            self.spawn(
                role,
                [
                    str(BIN / "celery"),
                    "-A",
                    app,
                    "worker",
                    "--pool",
                    pool,
                    "--concurrency",
                    str(concurrency),
                    "--hostname",
                    f"{role}@%h",
                    "--without-mingle",
                    "--without-gossip",
                    "--loglevel",
                    "INFO",
                ],
                **env,
            )
            for role in roles
        ]
        wait_until(
            lambda: all("ready." in proc.text() for proc in procs),
            timeout=60,
            what=f"{', '.join(roles)} to be ready",
            watch=procs,
        )
        return procs

    def beat(self, role: str, **env: Any) -> Process:
        proc = self.spawn(
            role, [str(BIN / "celery"), "-A", APP, "beat", "--loglevel", "INFO"], **env
        )
        wait_until(
            lambda: "beat: Starting" in proc.text(),
            timeout=60,
            what=f"{role} to start",
            watch=[proc],
        )
        return proc

    def api(self, role: str = "api", **env: Any) -> tuple[Process, str]:
        port = free_port()
        proc = self.spawn(
            role,
            [
                str(BIN / "uvicorn"),
                "interview_retention.api.app:app_factory",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            **env,
        )
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=60, what="the API to answer", watch=[proc])
        return proc, base

    def send(self, task: str, *, task_id: str | None = None, **kwargs: Any) -> str:
        """Send a task message as beat or the API would, and return its id."""
        from interview_retention.worker.celery_app import create_celery

        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=self.db.url,
            redis_url=self.redis.url,
            broker_key_prefix=f"{self.prefix}broker:",
            var_dir=self.folder / "sender",
        )
        app = create_celery(settings)
        task_id = task_id or f"{task.rsplit('.', 1)[-1]}-{uuid.uuid4()}"
        try:
            app.send_task(TASK_NAMES.get(task, task), task_id=task_id, kwargs=kwargs)
        finally:
            app.close()
        return task_id

    def queue_length(self, queue: str = "celery") -> int:
        return int(self.redis.client().llen(f"{self.prefix}broker:{queue}"))

    def close(self) -> None:
        for proc in reversed(self.processes):
            proc.stop(timeout=5)


TASK_NAMES = {
    "purge": "interview_retention.purge.purge_expired_sessions",
    "retention": "interview_retention.retention.apply_retention_rule",
    "notices": "interview_retention.notices.send_pending_notices",
}


@contextlib.contextmanager
def stack(tag: str) -> Iterator[Stack]:
    """A database, a Redis server and a folder for one scenario, all torn down.

    The folder (every process's log) is removed unless CHAOS_KEEP_LOGS is set.
    """
    folder = Path(tempfile.mkdtemp(prefix=f"ir-chaos-{tag}-"))
    server = RedisServer(folder / "redis")
    server.folder.mkdir()
    try:
        with scenario_database(tag) as db:
            server.start()
            built = Stack(db=db, redis=server, folder=folder)
            try:
                yield built
            finally:
                built.close()
                server.stop()
    finally:
        if not os.environ.get("CHAOS_KEEP_LOGS"):
            shutil.rmtree(folder, ignore_errors=True)
