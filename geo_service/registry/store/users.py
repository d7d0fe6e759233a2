"""Staff users (coordinators and admins) and the count of login attempts.

User names are compared in NFKC, case-folded (:func:`username_key`): Sato, SATO and
ｓａｔｏ are one user. A coordinator's areas are areas of the region's area layer, checked
when given (:class:`~geo_service.registry.store.areas.RegionAreas`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from geo_service._errors import ConflictError, DuplicateIdError, InputError
from geo_service.i18n import msg
from geo_service.registry.store.areas import RegionAreas
from geo_service.registry.store.base import NotFoundError, now_utc
from geo_service.registry.store.schema import login_attempts, users

Role = Literal["coordinator", "admin"]


@dataclass(frozen=True)
class User:
    """A staff user; coordinators edit the resources of ``areas`` only."""

    username: str
    role: Role
    areas: tuple[str, ...]
    active: bool = True
    password_hash: str = field(default="", repr=False)
    #: moves on at every deactivation: tokens carry the generation they were issued in
    token_generation: int = field(default=0, repr=False)


_NOT_IN_NAMES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def check_username(username: str) -> str:
    """``username`` in Unicode NFKC (full-width ｓａｔｏ → sato); raise :class:`InputError`
    (naming the field) for an empty or over-long name, surrounding spaces, and control,
    format (zero-width, bidi) or unassigned characters."""
    name = unicodedata.normalize("NFKC", username)
    if not name or max(len(name), len(username_key(name))) > 100:  # ß folds to ss
        reason = msg("user name must have 1–100 characters")
    elif name != name.strip():
        reason = msg("user name must not begin or end with a space")
    elif any(unicodedata.category(ch) in _NOT_IN_NAMES for ch in name):
        reason = msg("user name must not contain control or invisible characters")
    else:
        return name
    raise InputError(reason, column="username", value=username)


def username_key(username: str) -> str:
    """What makes two user names the same: NFKC, case-folded, without surrounding spaces
    (Sato, SATO, ｓａｔｏ and " sato" are one user), for uniqueness and for looking a user
    up."""
    folded = unicodedata.normalize("NFKC", username).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


def _user(row: Any) -> User:
    return User(row.username, row.role, tuple(row.areas), row.active, row.password_hash,
                row.token_generation)


@dataclass(frozen=True)
class LoginRecord:
    """Login attempts counted under one key (an account at an address, or an address):
    failures since the last success, when the last attempt was (epoch seconds), and
    whether the account has logged in from that address before."""

    failures: int
    last_at: float
    known: bool


class UserAccounts(RegionAreas):
    """The users part of :class:`~geo_service.registry.store.ResourceStore`: accounts, whose
    areas are the region's (hence built on :class:`RegionAreas`), and login attempts."""

    # ------------------------------------------------------------------ users

    def _user_areas(self, areas: Iterable[str]) -> list[str]:
        """Area ids of the responsible-area layer for a user's ``areas`` (ids or names).

        Raises
        ------
        InputError
            For an unknown area; and when this registry holds a region that was not
            loaded (:meth:`use_region`; a configured database opened without ``--region``):
            a name such as 川西 could then not be turned into the id its resources carry.
        """
        areas = list(areas)
        if areas and self.bounds is None and (bound := self.region()) is not None:
            raise InputError(msg(
                "this registry holds region {region!r}: give it with --region or "
                "GEO_SERVICE_REGION_DIR, so that the areas can be checked", region=bound[1]),
                column="areas", value="、".join(areas))
        return [self.resolve_area(a, column="areas") for a in areas]

    def add_user(self, username: str, password_hash: str, *, role: Role,
                 areas: Iterable[str] = ()) -> User:
        """Create a user; raise :class:`DuplicateIdError` if the name is taken, in any case
        or width (:func:`username_key`), and :class:`InputError` for a name that
        :func:`check_username` refuses."""
        if role not in ("coordinator", "admin"):
            raise InputError(msg("unknown role (coordinator or admin)"), column="role",
                             value=role)
        username = check_username(username)
        key = username_key(username)
        areas = self._user_areas(areas)
        try:
            with self.engine.begin() as conn:
                taken = conn.execute(select(users.c.username)
                                     .where(users.c.username_key == key)).first()
                if taken:
                    raise DuplicateIdError(msg("user already exists (as {user!r})",
                                               user=taken.username),
                                           column="username", value=username)
                conn.execute(insert(users).values(
                    username=username, username_key=key, password_hash=password_hash,
                    role=role, areas=areas, active=True, token_generation=0,
                    created_at=now_utc()))
        except IntegrityError:  # added meanwhile by another request
            raise DuplicateIdError(msg("user already exists"), column="username",
                                   value=username) from None
        return self.get_user(username)

    def get_user(self, username: str) -> User:
        """The user with this name, in any case or width, surrounding spaces ignored
        (:func:`username_key`); raise :class:`NotFoundError` if there is none."""
        with self.reader.connect() as conn:
            row = conn.execute(select(users).where(
                users.c.username_key == username_key(username))).first()
        if row is None:
            raise NotFoundError("user", username)
        return _user(row)

    def list_users(self) -> list[User]:
        """All users, by name."""
        with self.reader.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.username)).all()
        return [_user(r) for r in rows]

    def update_user(self, username: str, *, password_hash: str | None = None,
                    role: Role | None = None, areas: Iterable[str] | None = None,
                    active: bool | None = None) -> User:
        """Change a user's password hash, role, areas or active flag.

        Deactivating a user ends every token issued before (its token generation moves on),
        so reactivating them later does not revive those tokens.
        """
        values: dict[str, Any] = {}
        if password_hash is not None:
            values["password_hash"] = password_hash
        if role is not None:
            if role not in ("coordinator", "admin"):
                raise InputError(msg("unknown role (coordinator or admin)"), column="role",
                                 value=role)
            values["role"] = role
        if areas is not None:
            values["areas"] = self._user_areas(areas)
        if active is not None:
            values["active"] = active
        if active is False:
            values["token_generation"] = users.c.token_generation + 1
        name = self.get_user(username).username
        if values:
            with self.engine.begin() as conn:
                if values.get("role", "admin") != "admin" or values.get("active") is False:
                    self._keep_an_admin(conn, name)
                conn.execute(update(users).where(users.c.username == name).values(**values))
        return self.get_user(name)

    def delete_user(self, username: str) -> None:
        """Remove a user (their past changes stay in the history under their name)."""
        name = self.get_user(username).username
        with self.engine.begin() as conn:
            self._keep_an_admin(conn, name)
            conn.execute(delete(users).where(users.c.username == name))

    def _keep_an_admin(self, conn: Connection, username: str) -> None:
        """Refuse to demote, deactivate or delete the last active admin (nobody could
        manage users any more)."""
        others = conn.execute(select(func.count()).select_from(users).where(
            users.c.role == "admin", users.c.active.is_(True),
            users.c.username != username)).scalar_one()
        me = conn.execute(select(users.c.role, users.c.active)
                          .where(users.c.username == username)).one()
        if me.role == "admin" and me.active and others == 0:
            raise ConflictError(msg("the last active admin cannot be demoted, deactivated or "
                                    "removed; make another user admin first"),
                                column="username", value=username)

    # ------------------------------------------------------------------ login attempts

    def count_login_attempt(self, keys: Sequence[str], *, now: float, forget_before: float,
                            admit: Callable[[Mapping[str, LoginRecord]], None]) -> None:
        """Count a login attempt under each of ``keys`` (one failure more, at ``now``),
        unless ``admit`` refuses it by raising.

        ``admit`` gets each key's record, failures before ``forget_before`` forgotten. It
        all happens in one write transaction with the keys' rows locked: every worker
        process sharing the database sees one count, and simultaneous attempts are counted
        one after another. Records not touched since ``forget_before`` are removed, except
        those of an account that logged in from an address (``known``).
        """
        t = login_attempts.c
        keys = sorted(set(keys))  # one order of locking, so that two attempts never deadlock
        with self.writing() as conn:
            conn.execute(delete(login_attempts).where(t.last_at < forget_before,
                                                      t.known.is_(False)))
            insert_new = (pg_insert if self.postgis else sqlite_insert)(login_attempts)
            conn.execute(insert_new.on_conflict_do_nothing(),
                         [{"key": k, "failures": 0, "last_at": now, "known": False}
                          for k in keys])
            rows = conn.execute(select(login_attempts).where(t.key.in_(keys))
                                .order_by(t.key).with_for_update()).all()
            records = {r.key: LoginRecord(r.failures if r.last_at >= forget_before else 0,
                                          r.last_at, r.known) for r in rows}
            admit(records)
            for key, record in records.items():
                conn.execute(update(login_attempts).where(t.key == key)
                             .values(failures=record.failures + 1, last_at=now))

    def login_succeeded(self, account_key: str, address_key: str) -> None:
        """An attempt counted by :meth:`count_login_attempt` logged in: the account's record
        at that address is cleared and marked ``known``; the address's own loses the
        attempt."""
        t = login_attempts.c
        with self.writing() as conn:
            conn.execute(update(login_attempts).where(t.key == account_key)
                         .values(failures=0, known=True))
            conn.execute(update(login_attempts).where(t.key == address_key, t.failures > 0)
                         .values(failures=t.failures - 1))
