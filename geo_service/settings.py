"""Analysis defaults, typed and documented in one place.

Every default can be overridden per call; the CLI exposes the common ones as options.

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
- ``demand_spacing_m`` (50): spacing of residential demand points placed along the
  walkable streets inside a population polygon.
- ``class_breaks`` (0.1, 0.2, 0.3, 0.5): default class limits of the share of 65+ beyond
  the threshold, used when a layer definition gives none.
- ``exchange_crs`` ("EPSG:4326"): CRS of every file geo-service writes (RFC 7946 GeoJSON).
- ``layers_dir``: folder of the declarative layer definitions (``layers/`` beside the
  package; override with the environment variable ``GEO_SERVICE_LAYERS_DIR``).
- ``cache_dir``: osmnx download cache (``GEO_SERVICE_CACHE_DIR``, default ``data/cache``).
"""

from __future__ import annotations

import os
from pathlib import Path

threshold_m: float = 500.0
walking_speed_mps: float = 1.0
max_snap_m: float = 1000.0
fragment_max_nodes: int = 20
fragment_snap_m: float = 100.0
demand_spacing_m: float = 50.0
class_breaks: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5)
exchange_crs: str = "EPSG:4326"

_project_root = Path(__file__).resolve().parent.parent
layers_dir: Path = Path(os.environ.get("GEO_SERVICE_LAYERS_DIR", _project_root / "layers"))
cache_dir: Path = Path(os.environ.get("GEO_SERVICE_CACHE_DIR", _project_root / "data" / "cache"))
