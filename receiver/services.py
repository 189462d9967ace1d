"""The service's long-lived collaborators, built once per process from the settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app

from settings import Settings
from storage.crypto import SecretBox
from storage.db import Database
from storage.replay import DatabaseReplayCache, RedisReplayCache, open_replay_cache


@dataclass
class Services:
    settings: Settings
    database: Database
    secrets: SecretBox
    replay_cache: DatabaseReplayCache | RedisReplayCache

    def readiness_probes(self) -> dict[str, Callable[[], None]]:
        probes: dict[str, Callable[[], None]] = {"database": self.database.ping}
        if isinstance(self.replay_cache, RedisReplayCache):
            probes["replay_cache"] = self.replay_cache.ping
        return probes

    def close(self) -> None:
        self.database.dispose()


def build_services(settings: Settings) -> Services:
    database = Database(settings.database_url, timeout_seconds=settings.database_timeout_seconds)
    return Services(
        settings=settings,
        database=database,
        secrets=SecretBox(settings.secret_key),
        replay_cache=open_replay_cache(settings.replay_cache_url, database),
    )


def services() -> Services:
    """The current app's services (inside a request or an app context)."""
    return current_app.extensions["services"]
