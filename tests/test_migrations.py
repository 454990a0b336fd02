"""The migrations build exactly the models' schema, and have one head."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from app import MIGRATIONS
from app.extensions import db


def test_one_head(app):
    config = app.extensions["migrate"].migrate.get_config(MIGRATIONS)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_upgraded_empty_database_matches_the_models(database_template):
    # database_template was built from empty by `flask db upgrade`'s own function.
    engine = create_engine(database_template)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    engine.dispose()
    assert diff == []
