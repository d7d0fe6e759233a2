"""A fresh registry on each storage backend, skipping PostGIS where no database is given."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from geo_service.inputs.boundaries import AreaLayer
from geo_service.registry.store import ResourceStore
from geo_service.registry.store.testing import PG_URL_VARIABLE, fresh_store, postgis_url


def backend_store(backend: str, tmp_path: Path, *,
                  layers: Mapping[str, AreaLayer] | None = None) -> ResourceStore:
    """An empty store on ``backend``; the test is skipped, with the reason, when it is
    PostGIS and ``GEO_SERVICE_TEST_PG_URL`` is not set."""
    if backend == "postgis" and postgis_url() is None:
        pytest.skip(f"PostGIS tests need {PG_URL_VARIABLE} (bash .ci/postgis.sh prints one)")
    return fresh_store(backend, tmp_path, layers=layers)
