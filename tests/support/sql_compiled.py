"""SQL statements compiled once per test process, not once per database engine (pytest plugin).

SQLAlchemy compiles each statement to SQL the first time an engine runs it and keeps the result
in that engine's cache, keyed by the statement's structure and the engine's dialect object. The
service builds one engine per process; the tests build one per app, thousands in all, and each
compiled every statement again (about a seventh of the in-process tests' CPU). This plugin gives
every engine one shared cache whose keys name the dialect by what the compiled SQL depends on
(its class, the server's version, the parameter style, the identifier limits) instead of by the
object, so an engine loads what another engine of the same kind compiled.
``tests/support/test_sql_compiled.py`` checks that a statement compiled by one engine is the one
the next engine runs, and that engines of other kinds do not share.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.util import LRUCache

_engine_init = Engine.__init__


def dialect_set_up(dialect: Dialect) -> tuple[Hashable, ...]:
    """What a statement's compiled form depends on, of the dialect that compiled it."""
    return (
        type(dialect),
        dialect.server_version_info,
        dialect.paramstyle,
        dialect.positional,
        dialect.label_length,
        dialect.max_identifier_length,
        dialect.supports_native_boolean,
        dialect.supports_multivalues_insert,
        dialect.insert_executemany_returning,
        dialect.use_insertmanyvalues,
        getattr(dialect, "_json_serializer", None),
        getattr(dialect, "_json_deserializer", None),
    )


class SharedCompiledCache:
    """The compiled-statement cache of every engine, keyed by the dialect's set-up, not its identity."""

    def __init__(self, size: int = 20_000) -> None:
        self.entries: LRUCache[Hashable, Any] = LRUCache(size)

    @staticmethod
    def _key(key: tuple[Any, ...]) -> tuple[Hashable, ...]:
        return (dialect_set_up(key[0]), *key[1:])

    def get(self, key: tuple[Any, ...], default: Any = None) -> Any:
        return self.entries.get(self._key(key), default)

    def __setitem__(self, key: tuple[Any, ...], value: Any) -> None:
        self.entries[self._key(key)] = value

    def __len__(self) -> int:
        return len(self.entries)

    def clear(self) -> None:
        """An engine's ``clear_compiled_cache()``: the statements are the same for every engine, so they stay."""


SHARED = SharedCompiledCache()


def _with_shared_cache(self: Engine, *args: Any, **kwargs: Any) -> None:
    _engine_init(self, *args, **kwargs)
    if self._compiled_cache is not None:
        self._compiled_cache = SHARED  # type: ignore[assignment]


def pytest_configure() -> None:
    Engine.__init__ = _with_shared_cache  # type: ignore[method-assign]


def pytest_unconfigure() -> None:
    Engine.__init__ = _engine_init  # type: ignore[method-assign]
