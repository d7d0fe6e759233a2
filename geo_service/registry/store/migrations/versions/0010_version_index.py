"""Index resources.version: a registry state derived from the last one checks the sum of
every row's version (a change missed by its query by time shows there), read from this
index rather than from every wide row (32 ms at 45,000 resources on SQLite, 1 ms with it).

Revision ID: 0010_version_index
Revises: 0009_staff_list
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0010_version_index"
down_revision = "0009_staff_list"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_resources_version", "resources", ["version"])


def downgrade() -> None:
    op.drop_index("ix_resources_version", table_name="resources")
