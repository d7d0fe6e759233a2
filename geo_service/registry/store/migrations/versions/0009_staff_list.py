"""The staff list searched, filtered, sorted and paged by the database: a keyword column
for staff (``staff_search_text``: 名称, カナ, 内容, 住所, 運営主体 — the address and
operator may be staff-only, so the public's ``search_text`` stays without them) and
indexes for the list's orders and, on SQLite, its keyword search (covering: SQLite reads
the index, not the wide rows that hold each resource's JSON). Existing rows are filled in
from their stored data.

Revision ID: 0009_staff_list
Revises: 0008_access
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from geo_service.registry.resources import Resource
from geo_service.registry.store.rows import staff_search_text

revision = "0009_staff_list"
down_revision = "0008_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("resources", sa.Column("staff_search_text", sa.Text, nullable=False,
                                         server_default=""))
    table = sa.table("resources", sa.column("id", sa.String), sa.column("data", sa.JSON),
                     sa.column("staff_search_text", sa.Text))
    conn = op.get_bind()
    rows = [{"rid": rid, "text": staff_search_text(Resource.model_validate(data))}
            for rid, data in conn.execute(sa.select(table.c.id, table.c.data))]
    if rows:
        conn.execute(table.update().where(table.c.id == sa.bindparam("rid")).values(
            staff_search_text=sa.bindparam("text")), rows)
    name = sa.text("coalesce(kana, name)")
    op.create_index("ix_resources_list_name", "resources", ["deleted", name, "id"])
    op.create_index("ix_resources_list_category", "resources",
                    ["deleted", "category", name, "id", "updated_at"])
    op.create_index("ix_resources_list_verified", "resources",
                    ["deleted", "last_verified", "id"])
    if conn.dialect.name == "sqlite":  # a PostgreSQL index entry holds at most ~2.7 kB
        op.create_index("ix_resources_list_text", "resources", [
            "deleted", "visibility", "category", "staff_search_text", "search_text"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_resources_list_text", "resources")
    for index in ("ix_resources_list_verified", "ix_resources_list_category",
                  "ix_resources_list_name"):
        op.drop_index(index, "resources")
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("staff_search_text")
