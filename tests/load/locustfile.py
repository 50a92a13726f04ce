"""Locust users for `make load`: each is one API user working on their own sessions.

A user creates sessions, reads them, lists them, soft-deletes (as the seed page's
client does: JSON text without a JSON content type), restores and deletes them
for good, while the jobs run. Each user keeps what it believes: which sessions
exist and in which status, which it deleted, and what became of the sessions
seeded with a deadline during the run. Any answer other than the one its belief
predicts is a failure. At the end every belief is written to LOAD_STATE, and the
runner (tests/load/run.py) checks them against the database.

Environment: LOAD_USERS (a JSON file written by the runner: token, user id and
seeded sessions per user) and LOAD_STATE (where to write the beliefs and figures).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task

SESSIONS = "/api/interview/sessions"
ACCOUNTS: list[dict[str, Any]] = json.loads(Path(os.environ["LOAD_USERS"]).read_text())
USERS: list[SessionUser] = []
SERVER_ERRORS = {"count": 0}


@events.request.add_listener
def count_server_errors(response: Any = None, **_: Any) -> None:
    if response is not None and getattr(response, "status_code", 0) >= 500:
        SERVER_ERRORS["count"] += 1


class SessionUser(HttpUser):
    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        account = ACCOUNTS[len(USERS) % len(ACCOUNTS)]
        if len(USERS) >= len(ACCOUNTS):
            raise RuntimeError("more Locust users than accounts: raise LOAD_USERS")
        USERS.append(self)
        self.user_id = account["userId"]
        self.client.headers["Authorization"] = f"Bearer {account['token']}"
        # Believed to exist, with their status; questions per session created here.
        self.alive: dict[str, str] = dict(account["live"])
        self.questions: dict[str, int] = {}
        self.deleted: set[str] = set()
        # Seeded soft-deleted, falling due during the run: restored in time, or
        # found gone (404) once due.
        self.pending: set[str] = set(account["dueDuringRun"])
        self.restored: set[str] = set()
        self.expired: set[str] = set()
        self.rng = random.Random(account["userId"])

    def _expect(self, response: Any, *codes: int) -> bool:
        if response.status_code in codes:
            response.success()
            return True
        response.failure(f"{response.status_code}, expected {codes}")
        return False

    @task(3)
    def create(self) -> None:
        body = {"questionCount": 3, "config": {}}
        with self.client.post(SESSIONS, json=body, catch_response=True) as answer:
            if self._expect(answer, 200):
                data = answer.json()["data"]
                self.alive[data["sessionId"]] = data["status"]
                self.questions[data["sessionId"]] = sum(
                    1 + len(q["followUps"]) for q in data["questions"]
                )

    @task(3)
    def read(self) -> None:
        if self.alive:
            sid = self.rng.choice(sorted(self.alive))
            with self.client.get(
                f"{SESSIONS}/{sid}", name=f"{SESSIONS}/[id]", catch_response=True
            ) as answer:
                self._expect(answer, 200)

    @task(1)
    def list_own(self) -> None:
        with self.client.get(SESSIONS, catch_response=True) as answer:
            self._expect(answer, 200)

    @task(2)
    def soft_delete(self) -> None:
        live = sorted(s for s, status in self.alive.items() if status != "DELETED")
        if live:
            sid = self.rng.choice(live)
            with self.client.patch(
                f"{SESSIONS}/{sid}",
                data='{"status": "DELETED"}',
                headers={"Content-Type": "text/plain"},
                name=f"{SESSIONS}/[id] soft delete",
                catch_response=True,
            ) as answer:
                if self._expect(answer, 200):
                    self.alive[sid] = "DELETED"

    @task(2)
    def restore(self) -> None:
        deleted = sorted(s for s, status in self.alive.items() if status == "DELETED")
        if self.pending and (not deleted or self.rng.random() < 0.5):
            sid, seeded = self.rng.choice(sorted(self.pending)), True
        elif deleted:
            sid, seeded = self.rng.choice(deleted), False
        else:
            return
        with self.client.post(
            f"{SESSIONS}/{sid}/restore",
            name=f"{SESSIONS}/[id]/restore",
            catch_response=True,
        ) as answer:
            if answer.status_code == 200:
                answer.success()
                self.alive[sid] = answer.json()["data"]["status"]
                if seeded:
                    self.pending.discard(sid)
                    self.restored.add(sid)
            elif answer.status_code == 404 and seeded:
                # Its deadline came first: gone for every endpoint from now on.
                answer.success()
                self.pending.discard(sid)
                self.expired.add(sid)
            else:
                answer.failure(f"{answer.status_code}, expected 200")

    @task(1)
    def hard_delete(self) -> None:
        if self.alive:
            sid = self.rng.choice(sorted(self.alive))
            with self.client.delete(
                f"{SESSIONS}/{sid}",
                name=f"{SESSIONS}/[id] delete",
                catch_response=True,
            ) as answer:
                if self._expect(answer, 200):
                    del self.alive[sid]
                    self.deleted.add(sid)

    def belief(self) -> dict[str, Any]:
        return {
            "userId": self.user_id,
            "alive": self.alive,
            "questions": self.questions,
            "deleted": sorted(self.deleted),
            "restored": sorted(self.restored),
            "expired": sorted(self.expired),
            "pending": sorted(self.pending),
        }


@events.quitting.add_listener
def write_state(environment: Any, **_: Any) -> None:
    total = environment.stats.total
    summary = {
        "requests": total.num_requests,
        "failures": total.num_failures,
        "serverErrors": SERVER_ERRORS["count"],
        "p50Ms": total.get_response_time_percentile(0.5),
        "p99Ms": total.get_response_time_percentile(0.99),
        "rps": round(total.total_rps, 1),
        "byEndpoint": {
            f"{entry.method} {entry.name}": {
                "requests": entry.num_requests,
                "failures": entry.num_failures,
                "p50Ms": entry.get_response_time_percentile(0.5),
                "p99Ms": entry.get_response_time_percentile(0.99),
            }
            for entry in environment.stats.entries.values()
        },
        "failureMessages": {
            f"{error.method} {error.name}: {error.error}": error.occurrences
            for error in environment.stats.errors.values()
        },
        "users": [user.belief() for user in USERS],
    }
    Path(os.environ["LOAD_STATE"]).write_text(json.dumps(summary, indent=1))
