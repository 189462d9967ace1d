"""Werkzeug's URL rules parsed and their builders compiled once per test process, not once per app (pytest plugin).

Every Flask app compiles two Python functions per URL rule to build its URLs (``Rule._compile_builder``:
an AST made, walked and compiled), about 30 ms for this service's routes. A test run builds an app
per test, thousands in all, each with the same rules; this plugin keeps each compiled builder and
hands it to the next rule that would compile the very same one. The function takes the rule as
its first argument and holds nothing of the rule it was compiled for, so sharing it builds the
same URLs (``tests/support/test_url_builders.py`` checks it against Werkzeug's own). Parsing a
rule's text into the parts its matcher uses (~25 ms an app) is kept the same way: a rule alike
takes the parts and trace and gets converters of its own map. The service itself builds one app
per process and is untouched.
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


_compile = Rule.compile
#: per rule text and map set-up: the rule's parts and trace, and the converters it asked for (name, arguments)
_parsed: dict[tuple[Any, ...], tuple[list[Any], list[tuple[bool, str]], list[tuple[str, str, Any, Any]]]] = {}


def _rule_key(rule: Rule) -> tuple[Any, ...]:
    """What parsing the rule depends on: its text and slash handling, and its map's set-up and converters."""
    map_ = rule.map
    return (
        rule.rule,
        rule.merge_slashes,
        rule.subdomain,
        rule.host,
        map_.host_matching,
        tuple(sorted(map_.converters.items(), key=lambda item: item[0])),
    )


def _shared_compile(self: Rule) -> None:
    """``Rule.compile`` parsing each rule text once: the next rule alike takes the parts and gets converters of
    its own map."""
    key = _rule_key(self)
    parsed = _parsed.get(key)
    if parsed is None:
        _parsed[key] = _compile_recording_converters(self)
        return
    parts, trace, converters = parsed
    self._parts, self._trace, self._converters = list(parts), list(trace), {}
    for variable, name, args, kwargs in converters:
        self._converters[variable] = self.get_converter(variable, name, args, kwargs)
        self.arguments.add(variable)
    self._build = self._compile_builder(False).__get__(self, None)
    self._build_unknown = self._compile_builder(True).__get__(self, None)


def _compile_recording_converters(rule: Rule) -> tuple[list[Any], list[tuple[bool, str]], list[Any]]:
    converters: list[tuple[str, str, Any, Any]] = []
    get_converter = rule.get_converter

    def recording(variable: str, name: str, args: Any, kwargs: Any) -> Any:
        converters.append((variable, name, args, kwargs))
        return get_converter(variable, name, args, kwargs)

    rule.get_converter = recording  # type: ignore[method-assign]
    try:
        _compile(rule)
    finally:
        del rule.get_converter
    return list(rule._parts), list(rule._trace), converters


def pytest_configure() -> None:
    Rule._compile_builder = _shared_builder  # type: ignore[method-assign]
    Rule.compile = _shared_compile  # type: ignore[method-assign]


def pytest_unconfigure() -> None:
    Rule._compile_builder = _compile_builder  # type: ignore[method-assign]
    Rule.compile = _compile  # type: ignore[method-assign]
