"""Shared fixtures: hand-made grids with answers known by hand, and paths to real data.

Markers (registered in ``pyproject.toml``) let ``pytest -m "not slow and not browser and not
postgis and not dask"`` run the fast default. ``browser`` and ``postgis`` are set here from
what a test uses (the ``browser`` fixture; a ``"postgis"`` parameter), so that no such test
can be left unmarked; ``slow`` and ``dask`` are written on the tests themselves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geo_service.engine.network import WalkNetwork

ROOT = Path(__file__).resolve().parents[1]  # the repository
TEST_DATA = ROOT / "tests" / "data"  # small hand-made fixtures
SHARED_DATA = ROOT.parent / "shared" / "data"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark browser tests (the ``browser`` fixture) and PostGIS variants (a ``"postgis"``
    parameter)."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and any(isinstance(v, str) and v == "postgis"
                                        for v in callspec.params.values()):
            item.add_marker(pytest.mark.postgis)


@pytest.fixture(autouse=True, scope="session")
def _data_dir_in_tmp(tmp_path_factory):
    """The service's data folder (registry file, secret key, demo region, download cache)
    is a temporary one in every test, never the user's own (GEO_SERVICE_DATA_DIR); the
    command line's language is Japanese (GEO_SERVICE_LANG)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GEO_SERVICE_DATA_DIR", str(tmp_path_factory.mktemp("data_dir")))
        mp.delenv("GEO_SERVICE_CACHE_DIR", raising=False)
        # the command line speaks Japanese, as to its users, whatever the machine's locale
        # (tests/cli/test_cli_language.py sets the language it checks)
        mp.setenv("GEO_SERVICE_LANG", "ja")
        yield


@pytest.fixture
def fast_hashes(monkeypatch):
    """New password hashes at bcrypt's lowest cost (4): a test's logins take milliseconds."""
    monkeypatch.setattr("geo_service.registry.auth.BCRYPT_ROUNDS", 4)


def shared_file(relative: str) -> Path:
    """Path to a file of ../shared/data, skipping the test when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} not present (../shared/data is only beside CI and dev checkouts)")
    return path


def grid_network(nx_: int = 4, ny: int = 3, spacing: float = 100.0, *,
                 origin: tuple[float, float] = (0.0, 0.0), island: bool = False,
                 node_z: np.ndarray | None = None) -> WalkNetwork:
    """A street grid of ``nx_`` × ``ny`` nodes ``spacing`` metres apart (EPSG:6670).

    Node ``i + nx_ * j`` sits at ``origin + (i, j) * spacing``. With ``island`` a separate
    two-node street is added 1 km east of the grid (nodes ``n`` and ``n + 1``).
    """
    ii, jj = np.meshgrid(np.arange(nx_), np.arange(ny), indexing="xy")
    xy = np.column_stack([ii.ravel(), jj.ravel()]) * spacing + np.array(origin)
    idx = np.arange(nx_ * ny).reshape(ny, nx_)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    if island:
        n = len(xy)
        far = xy[:, 0].max() + 1000
        xy = np.vstack([xy, [[far, origin[1]], [far + spacing, origin[1]]]])
        u, v = np.append(u, n), np.append(v, n + 1)
    return WalkNetwork.from_edges(np.arange(len(xy)), xy, u, v, None, crs="EPSG:6670",
                                  node_z=node_z)


@pytest.fixture
def grid() -> WalkNetwork:
    """4 × 3 grid, 100 m spacing, plus a two-node island 1 km east."""
    return grid_network(island=True)
