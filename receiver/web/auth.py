"""The ops surface's one credential: bearer ``ADMIN_TOKEN``, compared in constant time."""

from __future__ import annotations

import hmac

from flask import request

from receiver.web.current import services
from receiver.web.errors import unauthorized


def require_admin_token() -> None:
    """Raise a 401 ``HttpProblem`` unless the request carries the admin bearer token."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = services().settings.admin_token
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise unauthorized("admin_token")
