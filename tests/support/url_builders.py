"""Werkzeug's URL builders compiled once per test process, not once per app (pytest plugin).

Every Flask app compiles two Python functions per URL rule to build its URLs (``Rule._compile_builder``:
an AST made, walked and compiled), about 30 ms for this service's routes. A test run builds an app
per test, thousands in all, each with the same rules; this plugin keeps each compiled builder and
hands it to the next rule that would compile the very same one. The function takes the rule as
its first argument and holds nothing of the rule it was compiled for, so sharing it builds the
same URLs (``tests/support/test_url_builders.py`` checks it against Werkzeug's own). The service
itself builds one app per process and is untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing.rules import Rule

_compile_builder = Rule._compile_builder
_compiled: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}


def _builder_key(rule: Rule, append_unknown: bool) -> tuple[Any, ...]:
    """What the compiled builder depends on: the rule's text and parts, its defaults and their converters."""
    defaults = rule.defaults or {}
    converters = rule._converters
    return (
        rule.rule,
        tuple(rule._trace),
        append_unknown,
        tuple(sorted((str(name), repr(value)) for name, value in defaults.items())),
        tuple(
            sorted(
                (name, type(converters[name]), repr(vars(converters[name]))) for name in converters if name in defaults
            )
        ),
    )


def _shared_builder(self: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
    key = _builder_key(self, append_unknown)
    builder = _compiled.get(key)
    if builder is None:
        builder = _compiled[key] = _compile_builder(self, append_unknown)
    return builder


def pytest_configure() -> None:
    Rule._compile_builder = _shared_builder  # type: ignore[method-assign]


def pytest_unconfigure() -> None:
    Rule._compile_builder = _compile_builder  # type: ignore[method-assign]
