"""User management (admins only): ``/users``."""

from __future__ import annotations

from fastapi import APIRouter, status

from geo_service.api.deps import Admin, State
from geo_service.api.errors import StrictJSONRoute, error_responses
from geo_service.api.schemas.resources import UserCreate, UserOut, UserUpdate
from geo_service.registry.auth import hash_password
from geo_service.registry.store import User

router = APIRouter(prefix="/users", tags=["users"], route_class=StrictJSONRoute,
                   responses=error_responses(401, 403))


def _out(user: User) -> UserOut:
    return UserOut(username=user.username, role=user.role, areas=list(user.areas),
                   active=user.active)


@router.get("", response_model=list[UserOut])
def list_users(state: State, _: Admin) -> list[UserOut]:
    """All users."""
    return [_out(u) for u in state.store.list_users()]


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED,
             responses=error_responses(409, 422))
def add_user(state: State, _: Admin, body: UserCreate) -> UserOut:
    """Create a coordinator or admin."""
    return _out(state.store.add_user(body.username, hash_password(body.password),
                                     role=body.role, areas=body.areas))


# 409: the last active admin cannot be demoted, deactivated or removed
@router.patch("/{username}", response_model=UserOut,
              responses=error_responses(404, 409, 422))
def update_user(state: State, _: Admin, username: str, body: UserUpdate) -> UserOut:
    """Change a user's password, role, areas or active flag."""
    return _out(state.store.update_user(
        username, password_hash=hash_password(body.password) if body.password else None,
        role=body.role, areas=body.areas, active=body.active))


@router.delete("/{username}", status_code=status.HTTP_204_NO_CONTENT,
               responses=error_responses(404, 409, 422))
def delete_user(state: State, _: Admin, username: str) -> None:
    """Remove a user."""
    state.store.delete_user(username)
