"""The shared URL builders (``tests.support.url_builders``) build what Werkzeug's own would, for every route."""

from __future__ import annotations

from werkzeug.routing.rules import Rule

from tests.support import url_builders


def values_for(rule: Rule) -> dict[str, object]:
    return {
        name: 7 if type(converter).__name__ == "IntegerConverter" else "a b/ç"
        for name, converter in rule._converters.items()
    }


def test_every_route_builds_the_same_url_as_with_werkzeugs_own_builder(app):
    for rule in app.url_map.iter_rules():
        for append_unknown in (False, True):
            own = url_builders._compile_builder(rule, append_unknown).__get__(rule, None)
            shared = url_builders._shared_builder(rule, append_unknown).__get__(rule, None)
            values = {**values_for(rule), **({"extra": "x&y"} if append_unknown else {})}
            assert shared(**values) == own(**values), rule.rule


def test_a_second_app_reuses_the_first_ones_builders(app, app_env):
    from app import create_app

    other = create_app(app_env)
    try:
        ours = {rule.rule: rule._build.__func__ for rule in app.url_map.iter_rules()}
        theirs = {rule.rule: rule._build.__func__ for rule in other.url_map.iter_rules()}
        assert ours.keys() == theirs.keys() and all(ours[path] is theirs[path] for path in ours)
    finally:
        other.extensions["services"].close()


def test_every_route_is_parsed_as_werkzeug_parses_it(app):
    for rule in app.url_map.iter_rules():
        own = rule.empty()
        own.map = None
        own.bind(app.url_map)  # the shared parse (the same rule text was parsed before)
        shared = (own._parts, own._trace, own.arguments, {k: (type(c), c.regex) for k, c in own._converters.items()})
        assert all(converter.map is app.url_map for converter in own._converters.values()), rule.rule
        url_builders._compile(own)  # Werkzeug's own
        theirs = (own._parts, own._trace, own.arguments, {k: (type(c), c.regex) for k, c in own._converters.items()})
        assert shared == theirs, rule.rule
