"""A request that queues a task and then fails sends nothing.

The API runs as a real process. A deferred constraint trigger makes the
request's own COMMIT fail, after the run was recorded and its task queued in the
transaction: the answer is a 500, no message reaches Redis, and no run is left
behind. With the trigger gone, the same request sends its message (so the check
would have seen one), and a worker runs it.
"""

from __future__ import annotations

import httpx
import pytest

from tests.chaos.harness import wait_until
from tests.factories import auth, make_user

pytestmark = pytest.mark.chaos

REFUSE_COMMIT = """
CREATE FUNCTION chaos_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'chaos: this commit is refused';
END $$;
CREATE CONSTRAINT TRIGGER chaos_refuse_job_runs AFTER INSERT ON job_runs
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION chaos_refuse();
"""


@pytest.mark.timeout(120)
def test_failed_commit_sends_no_task(chaos):
    with chaos.db.factory() as db:
        _, token = make_user(db, admin=True)
    chaos.db.execute(REFUSE_COMMIT)
    api, base = chaos.api()

    with httpx.Client(base_url=base, headers=auth(token), timeout=30) as client:
        refused = [
            client.post(f"/api/admin/jobs/{job}") for job in ("purge", "notices")
        ]
        left = chaos.queue_length(), chaos.db.scalar("SELECT count(*) FROM job_runs")
        chaos.db.execute("DROP TRIGGER chaos_refuse_job_runs ON job_runs")
        accepted = client.post("/api/admin/jobs/purge")
        sent = chaos.queue_length()

    assert [r.status_code for r in refused] == [500, 500]
    assert refused[0].json() == {"code": 500, "message": "Server error", "data": None}
    assert left == (0, 0)
    assert accepted.status_code == 202
    assert sent == 1
    run_id = accepted.json()["data"]["taskId"]
    worker = chaos.worker("worker")
    wait_until(
        lambda: (
            chaos.db.scalar("SELECT status FROM job_runs WHERE id = :i", i=run_id)
            == "SUCCEEDED"
        ),
        timeout=60,
        what="the accepted run",
        watch=[worker, api],
    )
    assert chaos.db.scalar("SELECT count(*) FROM job_runs") == 1
    assert worker.text().count("] received") == 1
