"""Analysis defaults, typed and documented in one place.

Every default can be overridden per call; the CLI exposes the common ones as options.
(The deployment settings of the API and the registry — database, data directory, secret
key … — are in :mod:`geo_service.config`.)

- ``threshold_m`` (500): the walking distance beyond which a person counts as having
  difficult access to a food store. MAFF's 食料品アクセス困難人口 uses 500 m (straight
  line); MLIT uses 500 m for elderly walking range.
- ``walking_speed_mps`` (1.0): walking speed on flat ground in metres per second; the
  signal-design speed of 1.0 m/s (0.8 m/s is the elderly-aware value).
- ``max_snap_m`` (1000): a point farther than this from every walkable edge is treated
  as lying outside the network and rejected with :class:`~geo_service._errors.OutsideNetworkError`.
- ``fragment_max_nodes`` (20) and ``fragment_snap_m`` (100): a connected piece of the
  network with fewer nodes than this (and smaller than the largest piece) is a *fragment*
  — usually a footway that OSM does not join to the street, or a piece cut off by the
  extract's edge. A point whose nearest edge lies on a fragment is attached instead to the
  nearest edge of the main network when one lies within ``fragment_snap_m``; farther away
  (a real island, a hamlet whose only path is broken) it stays, and is reported unreachable.
- ``nearest_search_m`` (2000): how far ``/reach`` looks for the nearest resource of a
  category that has none within the walking threshold (a 2 km walk, about 30 minutes at
  1.1 m/s); farther ones are not named.
- ``demand_spacing_m`` (50): spacing of residential demand points placed along the
  walkable streets inside a population polygon.
- ``exchange_crs`` ("EPSG:4326"): CRS of every file geo-service writes (RFC 7946 GeoJSON).

Folders are functions, read from the environment each time they are called (a variable
set after import takes effect):

- :func:`layers_dir`: the declarative layer definitions; ``GEO_SERVICE_LAYERS_DIR``, else
  the definitions installed with the package (``geo_service.layer_definitions``, which is
  the repository's ``layers/`` folder; an editable install, or a checkout that is not
  installed, reads that folder itself).
- :func:`cache_dir`: the osmnx download cache; ``GEO_SERVICE_CACHE_DIR``, else ``cache``
  in the data directory (:func:`geo_service.config.data_dir`).
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from functools import cache
from importlib.resources import files
from pathlib import Path

threshold_m: float = 500.0
walking_speed_mps: float = 1.0
max_snap_m: float = 1000.0
fragment_max_nodes: int = 20
fragment_snap_m: float = 100.0
nearest_search_m: float = 2000.0
demand_spacing_m: float = 50.0
exchange_crs: str = "EPSG:4326"


def layers_dir() -> Path:
    """Folder of the layer definitions (``GEO_SERVICE_LAYERS_DIR`` or the shipped ones)."""
    if folder := os.environ.get("GEO_SERVICE_LAYERS_DIR"):
        return Path(folder)
    return _shipped_layers_dir()


@cache
def _shipped_layers_dir() -> Path:
    try:
        return Path(str(files("geo_service.layer_definitions")))
    except ModuleNotFoundError:  # a checkout on sys.path that is not installed
        return Path(__file__).resolve().parent.parent / "layers"


def cache_dir() -> Path:
    """Folder of the osmnx download cache (``GEO_SERVICE_CACHE_DIR`` or ``DATA_DIR/cache``)."""
    if folder := os.environ.get("GEO_SERVICE_CACHE_DIR"):
        return Path(folder)
    from geo_service.config import data_dir

    return data_dir() / "cache"


#: the time zone every date a person reads is given in (a karte's 作成日, its sources' dates)
JAPAN_TZ = "Asia/Tokyo"


def japan_date(at: datetime | None = None) -> date:
    """The calendar date in Japan of ``at`` (aware; naive is taken as UTC), default now:
    a karte made at 06:00 JST is dated that day, not the day before (UTC)."""
    from zoneinfo import ZoneInfo

    at = at or datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(ZoneInfo(JAPAN_TZ)).date()
