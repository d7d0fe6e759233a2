"""Deployment settings of the API and the registry (pydantic-settings, one place).

The analysis defaults (threshold, walking speed, snapping …) and the folders of the layer
definitions and the download cache are in :mod:`geo_service.settings`.

Every setting can be given as an environment variable ``GEO_SERVICE_<NAME>`` (or in a
``.env`` file); :class:`ServiceSettings` reads them when it is created:

- ``DATA_DIR``: the service's own files — the registry file, the secret key, the demo
  region, and (``cache/``) the osmnx download cache. Default: the per-user data directory
  (``platformdirs.user_data_dir("geo-service")``: ``~/.local/share/geo-service`` on Linux),
  never the checkout or the installed package; see :func:`data_dir`.
- ``DATABASE_URL``: the registry database. Default: a SQLite file in ``DATA_DIR``, one
  per region — ``registries/<region key>.sqlite3`` (see :meth:`ServiceSettings.registry_url`),
  so that two regions' registries never mix — or ``registry.sqlite3`` where no region is
  served; created on first start. For a shared deployment
  ``postgresql+psycopg://user:pw@host/db`` (a registry holds one region: it refuses to be
  served with another).
- ``SQLITE_BUSY_SECONDS``: how long a write to a SQLite registry waits for another write
  (an import's, say) to finish (5); past it the API answers 503 with ``Retry-After``. An
  import holds the write lock about a second per 40,000 rows (it validates them first).
- ``REGION_DIR``: a saved region (``Region.save``) loaded once at start-up for the walking
  routes; unset means none (``geo-service serve`` then builds and serves the synthetic demo
  region with a demo registry, unless ``--no-demo``).
- ``SECRET_KEY``: token-signing key; default a random key kept in ``DATA_DIR/secret_key``.
- ``TOKEN_MINUTES``: token lifetime (60).
- ``CORS_ORIGINS``: JSON list of allowed browser origins (``[]`` = no CORS headers).
- ``MAX_UPLOAD_BYTES``: largest accepted import upload (5 MB).
- ``UPLOAD_MAX_ROWS`` (100,000 data rows), ``UPLOAD_MAX_COLUMNS`` (200),
  ``UPLOAD_MAX_CELLS`` (2,000,000: rows × columns of the range holding data),
  ``UPLOAD_MAX_EXPANDED_BYTES`` (100 MB uncompressed, for .xlsx), ``UPLOAD_MAX_ZIP_ENTRIES``
  (1,000 parts of an .xlsx): what an import's file may expand to, checked before it is
  expanded (a sheet's declared range and every row and cell reference; 413 naming the
  limit). The file is read in a process of its own, stopped after ``UPLOAD_SECONDS`` (60)
  or at ``UPLOAD_MEMORY_BYTES`` (1.5 GB of address space). See
  :mod:`geo_service.table_limits`.
- ``MAX_BODY_BYTES``: largest accepted request body of every other route (1 MB); larger
  bodies get 413 before they are read (by their ``Content-Length`` or as they stream in).
- ``LOGIN_MAX_FAILURES`` (5): failed logins of one account from one client address after
  which each further attempt from there must wait ``LOGIN_FIRST_DELAY_SECONDS`` (15), then
  twice as long each time up to ``LOGIN_MAX_DELAY_SECONDS`` (900); meanwhile
  ``/auth/token`` answers 429 with ``Retry-After``. The same account logs in from other
  addresses as usual, so nobody can lock anybody else out.
  ``LOGIN_ADDRESS_MAX_FAILURES`` (20): the same over all accounts from one address (a
  guess sprayed over many names), except for accounts that have logged in from that
  address before. Failures are forgotten ``LOGIN_WINDOW_SECONDS`` (3600) after the last
  one. Counted in the registry database, so every worker process shares the counts.
- ``TRUSTED_PROXIES``: JSON list of the reverse proxies (addresses or networks, e.g.
  ``["10.0.0.5"]``) whose ``X-Forwarded-For`` names the client; from any other peer the
  header is ignored and the peer's own address counts (default ``[]``: the header is never
  believed). ``geo-service serve`` switches uvicorn's own handling of the header off; run
  uvicorn by hand with ``--no-proxy-headers`` likewise.
- ``HASH_THREADS``: threads of each worker that check passwords (bcrypt, ~0.2 s each;
  default 1), apart from ``THREADS``, so that guessed logins cannot hold up other requests.
- ``REACH_MINUTES``: isochrone steps of ``/resources/{id}/reach`` (5, 10, 15).
- ``NEARBY_MAX_MINUTES``: largest walking time ``/nearby`` accepts (30).
- ``AREA_LAYER``: the region's area layer whose areas coordinators are responsible for
  (a resource's area is the one holding its location); default the region's first layer.
- ``THRESHOLD_M``: the walking distance (m) the walking routes count as "within walking
  range"; unset means the region's own (the threshold its analysis was saved with,
  ``Region.threshold_m``). The walking speed is always the region's network's.
- ``THREADS``: requests one worker process computes at a time (its thread pool; default
  2). The routes are CPU-bound and hold the GIL most of the time, so more threads only make
  them wait for each other (filtered list at 20 clients: 842 req/s with 2, 718 with 40);
  run one worker process per core instead. Raise it where slow requests (large imports,
  ``/areas`` after an edit) are common, as each holds a thread while it runs.
- ``BASEMAPS``: JSON list of the web pages' background maps (``id``, ``name``, ``url``
  template, ``attribution``, ``max_zoom``); default 地理院タイル（淡色） and OpenStreetMap;
  ``none`` (or ``[]``) for none at all, as on a closed network (LGWAN) where no tile
  server can be reached. The pages always offer the region's own map too (its streets,
  area outlines, rivers and railways from ``GET /basemap``), and fall back to it when
  tiles cannot load. Their origins are allowed as images by the pages' CSP.
- ``GEOCODER_URL``: an address search answering like 国土地理院's
  ``https://msearch.gsi.go.jp/address-search/AddressSearch?q=`` (the query is appended);
  unset means the pages offer no address search (tapping the map and the current location
  still work). Called by the service, never by the browser.
"""

from __future__ import annotations

import json
import os
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import platformdirs
from pydantic import BaseModel, Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from geo_service.table_limits import DEFAULT_LIMITS, ReadLimits


def default_data_dir() -> Path:
    """The per-user data directory of geo-service (platformdirs)."""
    return Path(platformdirs.user_data_dir("geo-service"))


def data_dir() -> Path:
    """``GEO_SERVICE_DATA_DIR`` or :func:`default_data_dir`, read when called (for code
    that has no :class:`ServiceSettings`, such as the download cache)."""
    if folder := os.environ.get("GEO_SERVICE_DATA_DIR"):
        return Path(folder)
    return default_data_dir()


class BaseMap(BaseModel):
    """A background map of the web pages: an XYZ tile URL template and its attribution."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    url: str = Field(pattern=r"^https://[^/]+/.*\{z\}.*$")
    attribution: str
    max_zoom: int = Field(default=18, ge=1, le=22)

    @property
    def origin(self) -> str:
        """``https://host`` of the tiles (for the Content-Security-Policy)."""
        return "https://" + urlsplit(self.url).netloc


DEFAULT_BASEMAPS = (
    BaseMap(id="gsi_pale", name="地理院タイル（淡色）",
            url="https://cyberjapandata.gsi.go.jp/xyz/pale/{z}/{x}/{y}.png",
            attribution="出典: 地理院タイル (https://maps.gsi.go.jp/development/ichiran.html)",
            max_zoom=18),
    BaseMap(id="osm", name="OpenStreetMap", url="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            attribution="© OpenStreetMap contributors (https://www.openstreetmap.org/copyright)",
            max_zoom=19),
)


class ServiceSettings(BaseSettings):
    """Deployment configuration; see the module docstring for each field."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", env_file=".env",
                                      extra="ignore")

    database_url: str = ""  # "" → the SQLite file in data_dir (see _default_database)
    sqlite_busy_seconds: float = Field(default=5.0, gt=0)
    region_dir: Path | None = None
    secret_key: str | None = None
    token_minutes: float = Field(default=60, gt=0)
    cors_origins: list[str] = Field(default_factory=list)
    max_upload_bytes: int = Field(default=5_000_000, gt=0)
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    upload_max_rows: int = Field(default=DEFAULT_LIMITS.rows, gt=0)
    upload_max_columns: int = Field(default=DEFAULT_LIMITS.columns, gt=0)
    upload_max_cells: int = Field(default=DEFAULT_LIMITS.cells, gt=0)
    upload_max_expanded_bytes: int = Field(default=DEFAULT_LIMITS.expanded_bytes, gt=0)
    upload_max_zip_entries: int = Field(default=DEFAULT_LIMITS.zip_entries, gt=0)
    upload_seconds: float = Field(default=DEFAULT_LIMITS.seconds, gt=0)
    upload_memory_bytes: int = Field(default=DEFAULT_LIMITS.memory_bytes, gt=0)
    login_max_failures: int = Field(default=5, gt=0)
    login_address_max_failures: int = Field(default=20, gt=0)
    login_window_seconds: float = Field(default=3600, gt=0)
    login_first_delay_seconds: float = Field(default=15, gt=0)
    login_max_delay_seconds: float = Field(default=900, gt=0)
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    hash_threads: int = Field(default=1, gt=0)
    reach_minutes: tuple[float, ...] = (5.0, 10.0, 15.0)
    nearby_max_minutes: float = Field(default=30, gt=0)
    threshold_m: float | None = Field(default=None, gt=0)
    area_layer: str | None = None
    threads: int = Field(default=2, gt=0)
    data_dir: Path = Field(default_factory=default_data_dir)
    basemaps: Annotated[tuple[BaseMap, ...], NoDecode] = DEFAULT_BASEMAPS
    geocoder_url: str | None = Field(default=None, pattern=r"^https?://")

    _database_given: bool = PrivateAttr(default=False)

    @field_validator("basemaps", mode="before")
    @classmethod
    def _basemaps_text(cls, value: Any) -> Any:
        """``BASEMAPS`` as written in the environment: ``none`` (or empty) is no
        background maps, anything else a JSON list."""
        if not isinstance(value, str):
            return value
        if value.strip().lower() in ("", "none"):
            return ()
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"BASEMAPS: 'none' or a JSON list of background maps ({exc})") \
                from None

    @model_validator(mode="after")
    def _default_database(self) -> ServiceSettings:
        self._database_given = bool(self.database_url)
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'registry.sqlite3'}"
        return self

    @property
    def read_limits(self) -> ReadLimits:
        """The ``UPLOAD_*`` limits of reading an imported file."""
        return ReadLimits(rows=self.upload_max_rows, columns=self.upload_max_columns,
                          cells=self.upload_max_cells,
                          expanded_bytes=self.upload_max_expanded_bytes,
                          zip_entries=self.upload_max_zip_entries,
                          seconds=self.upload_seconds, memory_bytes=self.upload_memory_bytes)

    @property
    def database_configured(self) -> bool:
        """Whether ``DATABASE_URL`` was given (rather than defaulted)."""
        return self._database_given

    def registry_url(self, region_key: str | None) -> str:
        """The registry of the region ``region_key``: ``DATABASE_URL`` when given, else the
        region's own SQLite file ``DATA_DIR/registries/<region key>.sqlite3`` (without a
        region, ``DATA_DIR/registry.sqlite3``)."""
        if self.database_configured or region_key is None:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'registries' / f'{region_key}.sqlite3'}"
