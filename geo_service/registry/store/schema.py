"""Tables of the resource registry and the geometry column type used on both backends.

Geometry travels as hex EWKB (SRID 4326): PostGIS reads and writes that text form of its
``geometry`` type directly, and on SQLite the same text is kept in a ``TEXT`` column and
evaluated with shapely. Every table is created by the Alembic migrations in
``migrations/versions``; :data:`metadata` mirrors them for queries.
"""

from __future__ import annotations

from typing import Any

import shapely
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

SRID = 4326


class _PostGISGeometry(UserDefinedType):
    cache_ok = True

    def __init__(self, geometry_type: str = "GEOMETRY") -> None:
        self.geometry_type = geometry_type

    def get_col_spec(self, **kw: Any) -> str:
        return f"geometry({self.geometry_type},{SRID})"


class Geometry(TypeDecorator):
    """A lon/lat geometry column: PostGIS ``geometry`` or hex EWKB text on SQLite."""

    impl = Text
    cache_ok = True

    def __init__(self, geometry_type: str = "GEOMETRY") -> None:
        super().__init__()
        self.geometry_type = geometry_type

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(_PostGISGeometry(self.geometry_type))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        geom = shapely.set_srid(value, SRID)
        return shapely.to_wkb(geom, hex=True, include_srid=True)

    def process_result_value(self, value: Any, dialect: Dialect) -> shapely.Geometry | None:
        return None if value is None else shapely.from_wkb(value)


metadata = MetaData()

resources = Table(
    "resources", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kana", String(200)),
    Column("category", String(40), nullable=False, index=True),
    Column("area", String(100), index=True),
    Column("coordinator", String(100)),
    Column("visibility", String(10), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("lon", Float),
    Column("lat", Float),
    Column("location_hidden", Boolean, nullable=False, default=False),
    Column("needs_location", Boolean, nullable=False),
    Column("weekday_mask", Integer, nullable=False, default=0),
    Column("fee_kind", String(10), nullable=False),
    Column("search_text", Text, nullable=False),
    # the staff's keyword search: also address and operator (migration 0009_staff_list)
    Column("staff_search_text", Text, nullable=False, default=""),
    Column("last_verified", Date),
    Column("sa_kind", String(20), nullable=False),
    Column("sa_layer", String(100)),
    Column("sa_areas", Text),
    Column("sa_minx", Float),
    Column("sa_miny", Float),
    Column("sa_maxx", Float),
    Column("sa_maxy", Float),
    Column("location", Geometry("POINT")),
    Column("service_geom", Geometry("GEOMETRY")),
    Column("data", JSON, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    # what the public's weekday and fee filters match (the public view's; migration 0006)
    Column("public_weekday_mask", Integer, nullable=False, default=0),
    Column("public_fee_kind", String(10), nullable=False, default="unknown"),
    Column("public_area", String(100)),  # the public view's area (migration 0007_access)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_resources_lonlat", "lon", "lat"),
    Index("ix_resources_category_lonlat", "category", "lon", "lat"),
    Index("ix_resources_sa_bbox", "sa_minx", "sa_maxx", "sa_miny", "sa_maxy"),
    Index("ix_resources_updated_at", "updated_at"),
    Index("ix_resources_version", "version"),  # migration 0010_version_index
    Index("ix_resources_serves", "deleted", "visibility", "sa_kind", "sa_minx", "sa_maxx",
          "sa_miny", "sa_maxy"),
)

history = Table(
    "resource_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("resource_id", String(64), nullable=False, index=True),
    Column("action", String(20), nullable=False),
    Column("username", String(100)),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
)

users = Table(
    "users", metadata,
    Column("username", String(100), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("areas", JSON, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # migration 0008_access: the name NFKC and case-folded (unique), and the generation of
    # tokens, which moves on at every deactivation
    Column("username_key", String(100), nullable=False, unique=True),
    Column("token_generation", Integer, nullable=False, default=0),
)

# the staff list (migration 0009_staff_list): its orders by カナ/名称, by category (holding
# what a page of ids needs, so that sorting all rows reads the index, not the wide rows
# that hold each resource's JSON) and by last verification. On SQLite the migration also
# indexes the keyword search's text (ix_resources_list_text), for the same reason; not on
# PostgreSQL, whose rows keep the JSON aside and whose index entries are limited in size
Index("ix_resources_list_name", resources.c.deleted,
      func.coalesce(resources.c.kana, resources.c.name), resources.c.id)
Index("ix_resources_list_category", resources.c.deleted, resources.c.category,
      func.coalesce(resources.c.kana, resources.c.name), resources.c.id,
      resources.c.updated_at)
Index("ix_resources_list_verified", resources.c.deleted, resources.c.last_verified,
      resources.c.id)

# failed logins per (account, address) and per address, shared by every worker process;
# keys are keyed digests, so attempted names are not kept (migration 0008_access)
login_attempts = Table(
    "login_attempts", metadata,
    Column("key", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_at", Float, nullable=False),
    Column("known", Boolean, nullable=False, default=False),
    Index("ix_login_attempts_last_at", "last_at"),
)

registry_region = Table(
    "registry_region", metadata,
    Column("id", Integer, primary_key=True),  # always 1: one region per registry
    Column("region_key", String(200), nullable=False),
    Column("region_name", String(500), nullable=False),
    Column("bound_at", DateTime(timezone=True), nullable=False),
)
