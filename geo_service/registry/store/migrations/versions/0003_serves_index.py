"""Index for "which services cover this point" on SQLite (PostGIS uses the GiST index).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = ["deleted", "visibility", "sa_kind", "sa_minx", "sa_maxx", "sa_miny", "sa_maxy"]


def upgrade() -> None:
    op.create_index("ix_resources_serves", "resources", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_resources_serves", table_name="resources")
