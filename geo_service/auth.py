"""Who may do what: password hashing, expiring tokens, roles and area permissions.

- The public reads public resources and public fields only (no login).
- A **coordinator** logs in (OAuth2 password flow) and edits the resources of the areas
  assigned to them (``User.areas``, e.g. 日常生活圏域 ids).
- An **admin** edits every resource and manages users.

Passwords are stored as bcrypt hashes (cost ``BCRYPT_ROUNDS``); tokens are HS256 JWTs
carrying the user name, the role and an expiry. The signing key comes from the deployment
settings or, on a single machine, from a random key kept in ``data/secret_key`` (created
on first start).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
import jwt

from geo_service._errors import InputError
from geo_service.store import NotFoundError, ResourceStore, User, owner_only

MIN_PASSWORD_LENGTH = 8
BCRYPT_ROUNDS = 12  # cost factor of new hashes (2**12 rounds, about 0.2 s)
_ALGORITHM = "HS256"


class AuthenticationError(Exception):
    """Missing, wrong or expired credentials (HTTP 401)."""


class PermissionDeniedError(PermissionError):
    """An authenticated user may not do this (HTTP 403); the message says why."""


def hash_password(password: str) -> str:
    """A bcrypt hash of ``password``; refuse passwords bcrypt cannot hold whole."""
    raw = password.encode("utf-8")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"password must have at least {MIN_PASSWORD_LENGTH} characters",
                         column="password")
    if len(raw) > 72:
        raise InputError("password is longer than 72 bytes", column="password")
    return bcrypt.hashpw(raw, bcrypt.gensalt(BCRYPT_ROUNDS)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches the stored hash (constant time)."""
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
    except ValueError:
        return False


def authenticate(store: ResourceStore, username: str, password: str) -> User:
    """The active user with these credentials; raise :class:`AuthenticationError`."""
    try:
        user = store.get_user(username)
    except NotFoundError:
        bcrypt.checkpw(b"x", bcrypt.hashpw(b"y", bcrypt.gensalt(4)))  # similar timing
        raise AuthenticationError("incorrect user name or password") from None
    if not user.active or not verify_password(password, user.password_hash):
        raise AuthenticationError("incorrect user name or password")
    return user


def create_token(user: User, secret: str, *, minutes: float = 60,
                 now: datetime | None = None) -> str:
    """A signed token for ``user`` that expires after ``minutes``."""
    now = now or datetime.now(UTC)
    claims = {"sub": user.username, "role": user.role, "iat": now,
              "exp": now + timedelta(minutes=minutes)}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def user_from_token(store: ResourceStore, token: str, secret: str) -> User:
    """The active user a token was issued to; raise :class:`AuthenticationError`."""
    try:
        claims: dict[str, Any] = jwt.decode(token, secret, algorithms=[_ALGORITHM],
                                            options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise AuthenticationError("token expired; log in again") from None
    except jwt.InvalidTokenError:
        raise AuthenticationError("invalid token") from None
    try:
        user = store.get_user(str(claims["sub"]))
    except NotFoundError:
        raise AuthenticationError("the token's user no longer exists") from None
    if not user.active:
        raise AuthenticationError("user is deactivated")
    return user


def check_can_edit(user: User, areas: Iterable[str | None]) -> None:
    """Raise unless ``user`` may edit resources of all ``areas`` (responsible areas).

    Admins may edit everything; coordinators only resources whose area is one of theirs
    (a resource without an area belongs to no coordinator, so only admins edit it).
    """
    if user.role == "admin":
        return
    for area in areas:
        if area is None or area not in user.areas:
            mine = "、".join(user.areas) or "none"
            raise PermissionDeniedError(
                f"coordinator {user.username!r} may edit resources of their own areas "
                f"({mine}) only, not of area {area!r}")


def check_admin(user: User) -> None:
    """Raise unless ``user`` is an admin."""
    if user.role != "admin":
        raise PermissionDeniedError("only an admin may manage users")


def load_or_create_secret(path: str | Path) -> str:
    """The token-signing key kept in ``path``; made (random, mode 0600) if absent, and made
    readable by its owner only if it was not."""
    path = Path(path)
    if path.exists():
        owner_only(path)
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key)
    return key
