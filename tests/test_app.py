"""The application factory and the ops commands it registers."""

from __future__ import annotations

import pytest

from app import create_app
from settings import ConfigError


def test_the_factory_refuses_to_start_without_its_settings():
    with pytest.raises(ConfigError) as error:
        create_app({})
    assert "PUBLIC_URL: required but not set" in error.value.problems


def test_the_factory_registers_the_endpoints(app):
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert {"/webhooks/messagebird/personal-data", "/api/requests", "/healthz", "/readyz", "/metrics"} <= rules


def test_a_store_that_cannot_work_is_a_configuration_error(app_env):
    with pytest.raises(ConfigError, match="ARCHIVE_STORE_URL"):
        create_app({**app_env, "ARCHIVE_STORE_URL": "s3://NOT_A_BUCKET/x"})


def test_readyz_names_the_backend_that_is_down(app_env):
    app = create_app({**app_env, "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"] == "unavailable"
    assert response.json["checks"]["archive_store"] == "ok"
    app.extensions["services"].close()
