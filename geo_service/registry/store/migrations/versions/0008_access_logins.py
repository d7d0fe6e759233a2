"""Accounts and logins: user names unique whatever their case or width (``username_key``,
NFKC and case-folded), a token generation that moves on at every deactivation (so that
reactivating a user does not revive old tokens), and the failed-login counts that every
worker process shares (``login_attempts``).

Existing users get their key; two users whose names differ only in case or width
(``sato`` and ``SATO``) stop the upgrade with their names, to be renamed or removed first.

Revision ID: 0008_access
Revises: 0007_access
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from geo_service.registry.store.users import username_key

revision = "0008_access"
down_revision = "0007_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("username_key", sa.String(100)))
    op.add_column("users", sa.Column("token_generation", sa.Integer, nullable=False,
                                     server_default="0"))
    table = sa.table("users", sa.column("username", sa.String),
                     sa.column("username_key", sa.String))
    conn = op.get_bind()
    names = conn.execute(sa.select(table.c.username)).scalars().all()
    by_key: dict[str, list[str]] = defaultdict(list)
    for name in names:
        by_key[username_key(name)].append(name)
    clashes = [sorted(group) for group in by_key.values() if len(group) > 1]
    if clashes:
        raise RuntimeError(
            "ユーザー名が大文字・小文字・全角半角の違いだけで重複しています。片方を削除してから"
            "更新してください (these users differ only in case or width; remove or rename one "
            f"of each before upgrading): {clashes}")
    if names:
        conn.execute(table.update().where(table.c.username == sa.bindparam("name")).values(
            username_key=sa.bindparam("key")),
            [{"name": n, "key": username_key(n)} for n in names])
    with op.batch_alter_table("users") as batch:
        batch.alter_column("username_key", existing_type=sa.String(100), nullable=False)
        batch.create_unique_constraint("uq_users_username_key", ["username_key"])
    op.create_table(
        "login_attempts",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_at", sa.Float, nullable=False),
        sa.Column("known", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_login_attempts_last_at", "login_attempts", ["last_at"])


def downgrade() -> None:
    op.drop_index("ix_login_attempts_last_at", "login_attempts")
    op.drop_table("login_attempts")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_username_key", type_="unique")
        batch.drop_column("token_generation")
        batch.drop_column("username_key")
