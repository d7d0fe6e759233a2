"""Which region a registry holds: one row naming the region the registry was first served
with (its key — name and a fingerprint of its network — and its name), so that a registry
is never served with another region's network and boundaries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_region",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("region_key", sa.String(200), nullable=False),
        sa.Column("region_name", sa.String(500), nullable=False),
        sa.Column("bound_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_registry_region_single_row"),
    )


def downgrade() -> None:
    op.drop_table("registry_region")
