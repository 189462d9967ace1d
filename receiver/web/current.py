"""The services of the app handling the current request or CLI command."""

from __future__ import annotations

from flask import current_app

from receiver.services import Services


def services() -> Services:
    """The current app's services (inside a request or an app context)."""
    return current_app.extensions["services"]
