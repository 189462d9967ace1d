"""The shared compiled templates (``tests.support.jinja_bytecode``) are what each app would compile itself."""

from __future__ import annotations

from tests.support import jinja_bytecode


def compiled_through_the_cache(app, name):
    environment = app.jinja_env
    source, filename, _ = environment.loader.get_source(environment, name)
    environment.get_template(name)
    bucket = jinja_bytecode.SHARED.get_bucket(environment, name, filename, source)
    return bucket.code, environment.compile(source, name, filename)


def test_every_template_loads_the_code_the_apps_own_environment_compiles(app):
    names = [name for name in app.jinja_env.list_templates() if name.endswith((".html", ".txt"))]
    assert len(names) > 10
    for name in names:
        shared, own = compiled_through_the_cache(app, name)
        assert shared is not None and shared == own, name


def test_a_second_app_reuses_the_first_ones_compiled_templates(app, app_env):
    from app import create_app

    other = create_app(app_env)
    try:
        first = app.jinja_env.get_template("console/sign_in.html")
        second = other.jinja_env.get_template("console/sign_in.html")
        assert first is not second and first.root_render_func.__code__ is second.root_render_func.__code__
    finally:
        other.extensions["services"].close()
