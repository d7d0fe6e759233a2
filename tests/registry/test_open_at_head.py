"""Opening a registry already at the newest schema loads no migrations (issue 19: every
command opens it); one behind is still brought up to date."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from geo_service.registry.store import (
    MIGRATIONS_DIR,
    _at_head,
    _head_revision,
    create_store_engine,
    open_store,
)


def test_a_registry_at_the_head_is_left_and_one_behind_is_upgraded(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.sqlite3'}"
    engine = create_store_engine(url)
    assert not _at_head(engine)  # a new file: no version table yet
    open_store(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert _head_revision() == ScriptDirectory.from_config(cfg).get_current_head()
    assert _at_head(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007_access")
    assert not _at_head(engine)
    assert "login_attempts" not in inspect(engine).get_table_names()
    open_store(url)  # upgraded again, as before
    assert _at_head(engine) and "login_attempts" in inspect(engine).get_table_names()
