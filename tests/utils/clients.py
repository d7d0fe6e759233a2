"""An API client logged in as an admin, on a given store and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo_service.api import create_app
from geo_service.config import ServiceSettings
from geo_service.registry.auth import hash_password
from geo_service.registry.store import ResourceStore


def admin_client(store: ResourceStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 **settings: Any) -> TestClient:
    """A :class:`TestClient` of the app on ``store`` (other ``settings`` from the
    environment and the arguments), with an admin's token; server errors are answers
    (500), not exceptions."""
    monkeypatch.setattr("geo_service.registry.auth.BCRYPT_ROUNDS", 4)
    store.add_user("admin", hash_password("admin-pass-1"), role="admin")
    app = create_app(ServiceSettings(database_url="sqlite://", data_dir=tmp_path,
                                     secret_key="k" * 40, **settings), store=store)
    client = TestClient(app, raise_server_exceptions=False)
    token = client.post("/auth/token", data={"username": "admin", "password": "admin-pass-1"})
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return client
