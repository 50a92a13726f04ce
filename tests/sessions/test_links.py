from datetime import timedelta

from freezegun import freeze_time
from pydantic import SecretStr

from interview_retention.sessions import links


def test_a_link_reads_back_as_its_session_and_owner(settings):
    url = links.export_url("s-1", "u-1", settings)

    token = url.removeprefix(settings.base_url + links.EXPORT_PATH)

    assert links.read_export_token(token, settings) == links.ExportGrant("s-1", "u-1")


def test_an_altered_link_grants_nothing(settings):
    token = links.export_token("s-1", "u-1", settings)
    head, _, signature = token.rpartition(".")
    forged = head + "." + ("A" if signature[0] != "A" else "B") + signature[1:]

    assert links.read_export_token(forged, settings) is None
    assert links.read_export_token("not-a-token", settings) is None


def test_a_link_signed_with_another_key_grants_nothing(settings):
    other = settings.model_copy(update={"secret_key": SecretStr("x" * 40)})

    token = links.export_token("s-1", "u-1", other)

    assert links.read_export_token(token, settings) is None


def test_a_link_stops_working_after_its_lifetime(settings):
    with freeze_time("2026-01-01T00:00:00Z") as frozen:
        token = links.export_token("s-1", "u-1", settings)
        frozen.tick(settings.export_link_ttl - timedelta(seconds=1))
        assert links.read_export_token(token, settings) is not None
        frozen.tick(timedelta(seconds=2))

        assert links.read_export_token(token, settings) is None
