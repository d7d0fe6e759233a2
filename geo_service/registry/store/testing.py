"""Helpers for tests that run on every storage backend (SQLite and PostGIS).

``GEO_SERVICE_TEST_PG_URL`` names a PostgreSQL + PostGIS database that tests may wipe
(``.ci/postgis.sh`` starts one on loopback and prints its URL). Without it, the PostGIS
variants are skipped with that reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import text

from geo_service.inputs.boundaries import AreaLayer
from geo_service.registry.store import (
    DEFAULT_BUSY_SECONDS,
    ResourceStore,
    create_store_engine,
    migrate,
)

PG_URL_VARIABLE = "GEO_SERVICE_TEST_PG_URL"
BACKENDS = ("sqlite", "postgis")


def postgis_url() -> str | None:
    """The test PostGIS URL from the environment, or None."""
    return os.environ.get(PG_URL_VARIABLE) or None


def fresh_store(backend: str, tmp_path: Path, *,
                layers: Mapping[str, AreaLayer] | None = None,
                busy_seconds: float = DEFAULT_BUSY_SECONDS) -> ResourceStore:
    """An empty, migrated store on ``backend`` ("sqlite" in ``tmp_path`` or "postgis");
    ``busy_seconds`` as for :func:`~geo_service.registry.store.create_store_engine`.

    The PostGIS database is wiped first (the registry tables and Alembic's version table).
    """
    url: str | None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    elif backend == "postgis":
        url = postgis_url()
        if url is None:
            raise RuntimeError(f"{PG_URL_VARIABLE} is not set")
    else:
        raise ValueError(f"unknown backend {backend!r}")
    engine = create_store_engine(url, busy_seconds=busy_seconds)
    if backend == "postgis":
        with engine.begin() as conn:
            for table in ("resource_history", "users", "resources", "registry_region",
                          "login_attempts", "alembic_version"):
                conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    migrate(engine)
    return ResourceStore(engine, layers=layers)
