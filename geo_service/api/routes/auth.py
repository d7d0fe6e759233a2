"""``POST /auth/token`` (OAuth2 password flow) and ``GET /auth/me``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from geo_service.api.deps import Staff, State
from geo_service.api.errors import StrictJSONRoute, error_responses
from geo_service.api.schemas import Token, UserOut
from geo_service.auth import authenticate, create_token

router = APIRouter(prefix="/auth", tags=["auth"], route_class=StrictJSONRoute,
                   responses=error_responses(401))


@router.post("/token", response_model=Token, responses=error_responses(422))
def login(state: State, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    """Exchange user name and password for a bearer token that expires."""
    user = authenticate(state.store, form.username, form.password)
    minutes = state.settings.token_minutes
    return Token(access_token=create_token(user, state.secret, minutes=minutes),
                 expires_in=int(minutes * 60))


@router.get("/me", response_model=UserOut)
def me(user: Staff) -> UserOut:
    """The logged-in user."""
    return UserOut(username=user.username, role=user.role, areas=list(user.areas),
                   active=user.active)
