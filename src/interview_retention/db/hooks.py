"""Work that must wait for a commit: sending tasks, evicting caches.

A callback registered here runs once the surrounding transaction commits and is
dropped if it rolls back, so a task queued by a request that then fails is never
sent, and a worker never reads a row before it exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

_KEY = "after_commit_callbacks"
log = structlog.get_logger(__name__)


def after_commit(db: Session, callback: Callable[[], Any]) -> None:
    """Run `callback` when `db` next commits; forget it on rollback."""
    db.info.setdefault(_KEY, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_callbacks(db: Session) -> None:
    callbacks = db.info.pop(_KEY, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:
            # The transaction is already committed; a failed follow-up must not
            # turn a success into an error. Each follow-up is safe to lose: caches
            # expire, and jobs run again on their schedule.
            log.exception("after_commit.callback_failed", callback=repr(callback))


@event.listens_for(Session, "after_transaction_end")
def _drop_callbacks(db: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction has ended: after a commit the callbacks have run
    # already; after a rollback, with or without database work, they are dropped.
    # A savepoint ending leaves them alone, since the outer transaction may still
    # commit (callbacks registered inside a rolled-back savepoint then still run).
    if transaction.parent is None:
        db.info.pop(_KEY, None)
