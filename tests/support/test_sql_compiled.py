"""The shared compiled statements (``tests.support.sql_compiled``): one engine's compiled SQL is the next one's."""

from __future__ import annotations

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine

from storage.models import ProcessorRequest
from tests.support import sql_compiled


def compiled_by(engine: Engine, statement):
    with engine.connect() as connection:
        return connection.execute(statement).context.compiled


def test_a_statement_compiled_by_one_engine_is_the_one_the_next_engine_runs(tmp_path):
    first, second = (create_engine(f"sqlite:///{tmp_path / name}.db") for name in ("first", "second"))
    try:
        with first.begin() as connection, second.begin() as other:
            for engine in (connection, other):
                engine.execute(text("CREATE TABLE requests (id TEXT)"))
        statement = select(ProcessorRequest.id).where(ProcessorRequest.id == "a-unique-id-for-this-test")
        assert compiled_by(first, statement) is compiled_by(second, statement)
    finally:
        first.dispose()
        second.dispose()


def test_engines_of_other_kinds_do_not_share(tmp_path, postgres_url):
    sqlite, postgres = create_engine(f"sqlite:///{tmp_path / 'db'}.db"), create_engine(postgres_url)
    try:
        with sqlite.connect() as one, postgres.connect() as other:
            one.execute(text("SELECT 1"))
            other.execute(text("SELECT 1"))
        assert sql_compiled.dialect_set_up(sqlite.dialect) != sql_compiled.dialect_set_up(postgres.dialect)
        assert sqlite._compiled_cache is postgres._compiled_cache is sql_compiled.SHARED
    finally:
        sqlite.dispose()
        postgres.dispose()
