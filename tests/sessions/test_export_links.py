"""The signed export link a notice carries: `GET /api/interview/exports/{token}`.

It needs no bearer token; the token in its path is the credential. It downloads
the same PDF as `/report/export` while the session is visible to the user the
link names, and answers one and the same 404 for every other case.
"""

from __future__ import annotations

import io
import logging
import re
from datetime import timedelta

import structlog
from fastapi.testclient import TestClient
from freezegun import freeze_time
from pydantic import SecretStr
from pypdf import PdfReader
from sqlalchemy import update

from interview_retention.api.app import create_app
from interview_retention.clock import utcnow
from interview_retention.logs import SECRET_PATH_PREFIXES, redact_path
from interview_retention.sessions import links
from interview_retention.sessions.api import LINK_NOT_FOUND
from interview_retention.sessions.models import InterviewSession
from interview_retention.users.service import revoke_token
from tests.deletion.support import run_purge
from tests.factories import auth, make_session, make_user
from tests.security import test_token_logs as token_logs
from tests.sessions.helpers import assert_error, path

# The log capture of the bearer-token test, reused for links.
logs = token_logs.logs


def _link(session: InterviewSession, settings, user_id: str | None = None) -> str:
    token = links.export_token(session.id, user_id or session.user_id, settings)
    return links.EXPORT_PATH + token


def _text(response) -> str:
    assert response.status_code == 200, response.content[:300]
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.content))
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages))


def _refused(response) -> None:
    assert_error(response, 404, LINK_NOT_FOUND)
    assert not response.content.startswith(b"%PDF")


class TestDownload:
    def test_downloads_the_same_document_as_the_owner_export(
        self, client, db, settings
    ):
        user, token = make_user(db)
        session = make_session(db, user)

        with freeze_time(utcnow()):
            by_link = client.get(_link(session, settings))
            by_token = client.get(
                path(session.id, "/report/export"), headers=auth(token)
            )

        assert _text(by_link) == _text(by_token)
        assert "What is a closure?" in _text(by_link)
        assert (
            by_link.headers["content-disposition"]
            == by_token.headers["content-disposition"]
        )
        assert by_link.headers["cache-control"] == "no-store"

    def test_works_in_the_grace_period(self, client, db, settings):
        user, _ = make_user(db)
        session = make_session(
            db,
            user,
            retention_notice_at=utcnow() - timedelta(days=6),
            permanent_delete_at=utcnow() + timedelta(hours=1),
            deletion_reason="RETENTION",
        )

        text = _text(client.get(_link(session, settings)))

        assert "Permanent deletion:" in text

    def test_a_user_without_an_api_token_can_still_use_their_link(
        self, client, db, settings
    ):
        # Revocation only removes the token hash, exactly the state of a user
        # imported without a token; both must be able to save their report.
        user, _ = make_user(db)
        session = make_session(db, user)
        revoke_token(db, email=user.email)
        db.commit()

        response = client.get(_link(session, settings))

        assert "What is a closure?" in _text(response)


class TestRefused:
    def test_a_forged_signature(self, client, db, settings):
        user, _ = make_user(db)
        session = make_session(db, user)
        token = links.export_token(session.id, user.id, settings)
        head, _, signature = token.rpartition(".")
        forged = head + "." + ("A" if signature[0] != "A" else "B") + signature[1:]

        _refused(client.get(links.EXPORT_PATH + forged))

    def test_a_link_signed_with_another_key(self, client, db, settings):
        user, _ = make_user(db)
        session = make_session(db, user)
        other = settings.model_copy(update={"secret_key": SecretStr("k" * 40)})

        _refused(client.get(_link(session, other)))

    def test_an_expired_link(self, client, db, settings):
        user, _ = make_user(db)
        session = make_session(db, user)

        with freeze_time(utcnow()) as frozen:
            link = _link(session, settings)
            frozen.tick(settings.export_link_ttl + timedelta(seconds=1))

            response = client.get(link)

        _refused(response)

    def test_malformed_tokens(self, client):
        for token in ("x", "a.b.c", "%00", "é" * 10, "t" * 5000):
            _refused(client.get(links.EXPORT_PATH + token))

    def test_a_purged_session(self, client, db, factory, settings, cache):
        user, _ = make_user(db)
        session = make_session(
            db,
            user,
            status="DELETED",
            status_before_deletion="EVALUATED",
            deleted_at=utcnow() - timedelta(days=31),
            permanent_delete_at=utcnow() - timedelta(days=1),
            deletion_reason="USER",
        )
        link = _link(session, settings)

        run_purge(factory, settings, cache, utcnow())

        _refused(client.get(link))

    def test_a_session_moved_past_its_deadline_before_any_purge(
        self, client, db, settings
    ):
        user, _ = make_user(db)
        session = make_session(db, user)
        link = _link(session, settings)
        assert client.get(link).status_code == 200
        db.execute(
            update(InterviewSession)
            .where(InterviewSession.id == session.id)
            .values(permanent_delete_at=utcnow() - timedelta(seconds=1))
        )
        db.commit()

        _refused(client.get(link))

    def test_a_hard_deleted_session(self, client, db, settings):
        user, token = make_user(db)
        session = make_session(db, user)
        link = _link(session, settings)

        client.delete(path(session.id), headers=auth(token))

        _refused(client.get(link))

    def test_a_link_naming_someone_else_as_owner(self, client, db, settings):
        owner, _ = make_user(db)
        stranger, _ = make_user(db)
        session = make_session(db, owner)

        _refused(client.get(_link(session, settings, user_id=stranger.id)))


class TestFailureLimit:
    def _client(self, settings, engine, cache) -> TestClient:
        limited = settings.model_copy(update={"auth_failure_limit": "3/minute"})
        return TestClient(
            create_app(limited, engine=engine, report_cache=cache),
            raise_server_exceptions=False,
        )

    def test_bad_links_count_toward_the_limit_then_429(
        self, settings, engine, cache, db
    ):
        client = self._client(settings, engine, cache)
        user, token = make_user(db)
        session = make_session(db, user)

        refused = [client.get(links.EXPORT_PATH + f"bad{i}") for i in range(3)]
        blocked = client.get(_link(session, settings))
        bearer = client.get(path(session.id), headers=auth(token))

        assert [r.status_code for r in refused] == [404, 404, 404]
        assert_error(blocked, 429)
        assert int(blocked.headers["retry-after"]) >= 1
        # The same count as bad bearer tokens: the address is held back there too.
        assert_error(bearer, 429)

    def test_a_good_link_to_a_gone_session_is_not_counted(
        self, settings, engine, cache, db
    ):
        client = self._client(settings, engine, cache)
        user, token = make_user(db)
        gone = make_session(db, user)
        link = _link(gone, settings)
        client.delete(path(gone.id), headers=auth(token))

        answers = [client.get(link).status_code for _ in range(4)]

        assert answers == [404] * 4


class TestLogs:
    def test_the_export_path_is_the_one_logs_redact(self):
        assert links.EXPORT_PATH in SECRET_PATH_PREFIXES
        assert redact_path(links.EXPORT_PATH + "abc.def") == (
            links.EXPORT_PATH + "[redacted]"
        )
        assert redact_path("/api/interview/sessions/x") == "/api/interview/sessions/x"

    def test_no_link_token_reaches_any_log_under_uvicorn(
        self, settings, engine, cache, db, logs, monkeypatch
    ):
        from interview_retention.sessions import export

        user, _ = make_user(db)
        session = make_session(db, user)
        gone = make_session(db, user, permanent_delete_at=utcnow())
        app = create_app(
            settings.model_copy(update={"log_level": "DEBUG"}),
            engine=engine,
            report_cache=cache,
        )
        structlog.configure(
            logger_factory=structlog.PrintLoggerFactory(file=logs.structured)
        )
        good = _link(session, settings)
        dead = _link(gone, settings)
        forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")

        with token_logs.Server(app, logs) as client:
            # The test's own HTTP client logs every URL it requests; it is not
            # the service. (Set here: uvicorn's logging setup re-enables it.)
            monkeypatch.setattr(logging.getLogger("httpx"), "disabled", True)
            answers = [client.get(url).status_code for url in (good, dead, forged)]
            monkeypatch.setattr(export, "render", _crash)
            answers.append(client.get(good).status_code)

        assert answers == [200, 404, 404, 500]
        text = logs.text
        assert '"event": "report.exported"' in text
        assert '"event": "export_link.rejected"' in text
        assert '"event": "request.failed"' in text
        assert f'"GET {links.EXPORT_PATH}[redacted] HTTP/1.1" 200' in text
        for url in (good, dead, forged):
            token = url.removeprefix(links.EXPORT_PATH)
            assert token not in text
            # Neither its payload nor its signature alone.
            for part in filter(None, token.split(".")):
                assert part not in text


def _crash(*args, **kwargs):
    raise RuntimeError("the renderer failed")
