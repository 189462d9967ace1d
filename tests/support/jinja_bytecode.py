"""Jinja templates compiled once per test process, not once per app (pytest plugin).

Every Flask app has a Jinja environment of its own, which parses, generates and compiles each
template the first time it renders it: about 80 ms for a console page, paid again by every test,
since every test builds its app. This plugin gives each app's environment one shared bytecode
cache (Jinja's own ``BytecodeCache`` hook): a template compiled by one app is loaded by the next,
as long as its source is the same (Jinja checks the source's checksum) and the environment is set
up alike (the key holds what the generated code depends on). The service itself builds one app per
process and is untouched; ``tests/support/test_jinja_bytecode.py`` checks that pages render the same.
"""

from __future__ import annotations

from types import CodeType

from flask import Flask
from jinja2 import Environment
from jinja2.bccache import Bucket, BytecodeCache

_create_jinja_environment = Flask.create_jinja_environment


class SharedBytecode(BytecodeCache):
    """Compiled templates in memory, keyed by the template, its source and the environment's set-up."""

    def __init__(self) -> None:
        self.code: dict[tuple[object, ...], CodeType] = {}

    def get_bucket(self, environment: Environment, name: str, filename: str | None, source: str) -> Bucket:
        bucket = Bucket(environment, f"{_set_up(environment)!r}:{name}:{filename}", self.get_source_checksum(source))
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: Bucket) -> None:
        bucket.code = self.code.get((bucket.key, bucket.checksum))

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is not None:
            self.code[(bucket.key, bucket.checksum)] = bucket.code


def _set_up(environment: Environment) -> tuple[object, ...]:
    """What the code Jinja generates depends on, besides the template's source."""
    return (
        tuple(sorted(environment.extensions)),
        environment.block_start_string,
        environment.variable_start_string,
        environment.comment_start_string,
        environment.line_statement_prefix,
        environment.trim_blocks,
        environment.lstrip_blocks,
        environment.optimized,
        environment.finalize is not None,
        callable(environment.autoescape) or bool(environment.autoescape),
        environment.undefined,
        environment.is_async,
        getattr(environment, "newstyle_gettext", None),
    )


SHARED = SharedBytecode()


def _with_shared_bytecode(self: Flask) -> Environment:
    environment = _create_jinja_environment(self)
    environment.bytecode_cache = SHARED
    return environment


def pytest_configure() -> None:
    Flask.create_jinja_environment = _with_shared_bytecode  # type: ignore[method-assign]


def pytest_unconfigure() -> None:
    Flask.create_jinja_environment = _create_jinja_environment  # type: ignore[method-assign]
