"""What the public's ``?area=`` matches: the responsible area of each resource's public
view (``public_area``), so that a route whose stops are staff-only is never found by the
district its hidden first stop lies in. Existing rows are filled in from their stored data.

Revision ID: 0007_access
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from geo_service.registry.resources import Resource
from geo_service.registry.store.rows import public_area

revision = "0007_access"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("resources", sa.Column("public_area", sa.String(100)))
    table = sa.table("resources", sa.column("id", sa.String), sa.column("data", sa.JSON),
                     sa.column("public_area", sa.String))
    conn = op.get_bind()
    rows = [{"rid": rid, "area": public_area(Resource.model_validate(data))}
            for rid, data in conn.execute(sa.select(table.c.id, table.c.data))]
    if rows:
        conn.execute(table.update().where(table.c.id == sa.bindparam("rid")).values(
            public_area=sa.bindparam("area")), rows)


def downgrade() -> None:
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("public_area")
