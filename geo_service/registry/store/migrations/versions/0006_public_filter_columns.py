"""What the public's filters match: the weekdays and fee kind of each resource's public
view, kept beside the full ones (``weekday_mask``, ``fee_kind``, which staff filter on),
so that ``?weekday=`` and ``?fee=`` never find a resource through a staff-only schedule,
fee or stop. Existing rows are filled in from their stored data.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from geo_service.registry.resources import Resource
from geo_service.registry.store.rows import public_filter_values

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("resources", sa.Column("public_weekday_mask", sa.Integer, nullable=False,
                                         server_default="0"))
    op.add_column("resources", sa.Column("public_fee_kind", sa.String(10), nullable=False,
                                         server_default="unknown"))
    table = sa.table("resources", sa.column("id", sa.String), sa.column("data", sa.JSON),
                     sa.column("public_weekday_mask", sa.Integer),
                     sa.column("public_fee_kind", sa.String))
    conn = op.get_bind()
    rows = [{"rid": rid, **public_filter_values(Resource.model_validate(data))}
            for rid, data in conn.execute(sa.select(table.c.id, table.c.data))]
    if rows:
        conn.execute(table.update().where(table.c.id == sa.bindparam("rid")).values(
            public_weekday_mask=sa.bindparam("public_weekday_mask"),
            public_fee_kind=sa.bindparam("public_fee_kind")), rows)


def downgrade() -> None:
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("public_fee_kind")
        batch.drop_column("public_weekday_mask")
