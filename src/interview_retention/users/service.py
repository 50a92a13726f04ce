"""Creating users and issuing, checking and rotating their bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from interview_retention.errors import Conflict, Invalid, NotFound
from interview_retention.users.models import User

TOKEN_PREFIX = "irt_"  # noqa: S105 - a marker that makes leaked tokens greppable


def hash_token(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: there is nothing to
    # brute-force, and the lookup stays a single indexed equality.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 320:
        raise Invalid("A valid email address is required")
    return email


def create_user(
    db: Session,
    *,
    email: str,
    display_name: str = "",
    admin: bool = False,
    now: datetime,
) -> tuple[User, str]:
    """A new user and their token; the token is returned once and only hashed here."""
    email = normalize_email(email)
    if db.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("A user with that email already exists")
    token = new_token()
    user = User(
        email=email,
        display_name=display_name,
        role="admin" if admin else "user",
        token_hash=hash_token(token),
        token_created_at=now,
        created_at=now,
    )
    db.add(user)
    db.flush()
    return user, token


def rotate_token(db: Session, *, email: str, now: datetime) -> tuple[User, str]:
    """Replace a user's token; the old one stops working at commit."""
    user = db.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise NotFound("User not found")
    token = new_token()
    user.token_hash = hash_token(token)
    user.token_created_at = now
    return user, token


def revoke_token(db: Session, *, email: str) -> User:
    """Take a user's token away; it stops working at commit. No new one is made."""
    user = db.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise NotFound("User not found")
    user.token_hash = None
    user.token_created_at = None
    return user


def token_expired(user: User, *, now: datetime, ttl: timedelta | None) -> bool:
    """Whether the user's token has outlived `ttl` (None: tokens never expire).

    A token expires at the instant its lifetime is reached, as a deadline does. A
    token without an issue time is treated as expired: every token this service
    issues has one, so such a row was written by hand.
    """
    if ttl is None:
        return False
    if user.token_created_at is None:
        return True
    return now >= user.token_created_at + ttl


def user_for_token(db: Session, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    return db.scalar(select(User).where(User.token_hash == hash_token(token)))


def get_or_create_by_email(
    db: Session,
    *,
    email: str,
    display_name: str,
    role: str = "user",
    now: datetime,
) -> tuple[User, bool]:
    """For imports: the user with this email and whether they were created now.

    An existing user is returned as they are, name and role included; a new one
    takes `display_name` and `role` and has no token.
    """
    email = normalize_email(email)
    user = db.scalar(select(User).where(User.email == email))
    if user is not None:
        return user, False

    user = User(email=email, display_name=display_name, role=role, created_at=now)
    db.add(user)
    # Flushed at once: the caller needs the id, and a duplicate email fails here.
    db.flush()
    return user, True
