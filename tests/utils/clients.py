"""API clients for tests: the app on a given store and settings, its users and their logins.

- :func:`add_user` makes an account with a password (hashed at the current
  ``BCRYPT_ROUNDS``; the ``fast_hashes`` fixture of ``tests/conftest.py`` lowers it);
- :func:`api_client` is a :class:`TestClient` of the app with the tests' settings;
- :func:`bearer` logs a user in through ``POST /auth/token`` and returns the header;
- :func:`client_with_admin` and :func:`admin_client` put these together for the admin
  :data:`ADMIN`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from geo_service.api import create_app
from geo_service.config import ServiceSettings
from geo_service.registry.auth import hash_password
from geo_service.registry.store import ResourceStore
from geo_service.registry.store.users import Role
from geo_service.service.walking import WalkingService

ADMIN = ("admin", "admin-pass-1")  # the tests' admin: user name, password
SECRET_KEY = "k" * 40  # the tests' token key


def add_user(store: ResourceStore, username: str, password: str, *,
             role: Role = "coordinator", areas: Iterable[str] = ()) -> None:
    """Add an account to ``store`` that logs in with ``password``."""
    store.add_user(username, hash_password(password), role=role, areas=areas)


def bearer(client: httpx.Client, username: str, password: str) -> dict[str, str]:
    """The ``Authorization`` header of ``username`` logged in through ``POST /auth/token``
    (the login must succeed); ``client`` is a :class:`TestClient` or an ``httpx.Client``
    of a running server."""
    r = client.post("/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def api_client(store: ResourceStore, data_dir: Path, *, walking: WalkingService | None = None,
               raise_server_exceptions: bool = True, **settings: Any) -> TestClient:
    """A :class:`TestClient` of the app on ``store`` (and ``walking``), with ``data_dir``,
    the tests' secret key and other ``settings`` as given (the rest from the environment)."""
    app = create_app(ServiceSettings(database_url="sqlite://", data_dir=data_dir,
                                     secret_key=SECRET_KEY, **settings),
                     store=store, walking=walking)
    return TestClient(app, raise_server_exceptions=raise_server_exceptions)


def client_with_admin(store: ResourceStore, data_dir: Path, **options: Any
                      ) -> tuple[TestClient, dict[str, str]]:
    """:func:`api_client` (same ``options``) with the admin :data:`ADMIN` added to ``store``,
    and the admin's header (requests without it are anonymous)."""
    add_user(store, *ADMIN, role="admin")
    client = api_client(store, data_dir, **options)
    return client, bearer(client, *ADMIN)


def admin_client(store: ResourceStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 **settings: Any) -> TestClient:
    """A :class:`TestClient` of the app on ``store`` (other ``settings`` from the
    environment and the arguments), with an admin's token on every request; server errors
    are answers (500), not exceptions."""
    monkeypatch.setattr("geo_service.registry.auth.BCRYPT_ROUNDS", 4)
    client, admin = client_with_admin(store, tmp_path, raise_server_exceptions=False,
                                      **settings)
    client.headers.update(admin)
    return client
