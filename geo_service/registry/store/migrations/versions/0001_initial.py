"""Initial registry schema: resources, resource_history, users.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from geo_service.registry.store.schema import Geometry

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgis = op.get_bind().dialect.name == "postgresql"
    if postgis:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "resources",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kana", sa.String(200)),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("area", sa.String(100)),
        sa.Column("coordinator", sa.String(100)),
        sa.Column("visibility", sa.String(10), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
        sa.Column("location_hidden", sa.Boolean, nullable=False),
        sa.Column("needs_location", sa.Boolean, nullable=False),
        sa.Column("weekday_mask", sa.Integer, nullable=False),
        sa.Column("fee_kind", sa.String(10), nullable=False),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("last_verified", sa.Date),
        sa.Column("sa_kind", sa.String(20), nullable=False),
        sa.Column("sa_layer", sa.String(100)),
        sa.Column("sa_areas", sa.Text),
        sa.Column("sa_minx", sa.Float),
        sa.Column("sa_miny", sa.Float),
        sa.Column("sa_maxx", sa.Float),
        sa.Column("sa_maxy", sa.Float),
        sa.Column("location", Geometry("POINT")),
        sa.Column("service_geom", Geometry("GEOMETRY")),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_resources_category", "resources", ["category"])
    op.create_index("ix_resources_area", "resources", ["area"])
    op.create_index("ix_resources_lonlat", "resources", ["lon", "lat"])
    op.create_index("ix_resources_sa_bbox", "resources",
                    ["sa_minx", "sa_maxx", "sa_miny", "sa_maxy"])
    if postgis:
        op.execute("CREATE INDEX ix_resources_location_gist ON resources USING GIST (location)")
        op.execute("CREATE INDEX ix_resources_service_geom_gist ON resources "
                   "USING GIST (service_geom)")
    op.create_table(
        "resource_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("username", sa.String(100)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
    )
    op.create_index("ix_resource_history_resource_id", "resource_history", ["resource_id"])
    op.create_table(
        "users",
        sa.Column("username", sa.String(100), primary_key=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("areas", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("users")
    op.drop_table("resource_history")
    op.drop_table("resources")
