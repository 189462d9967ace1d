"""The one error of the identity layer."""

from __future__ import annotations

from storage.errors import ServiceError


class IdentityError(ServiceError):
    """A sign-in through the identity provider that cannot go on.

    ``reason`` is a stable code for logs and metrics (``no_mapped_group``,
    ``groups_overage``, ``invalid_id_token``, ``provider_unavailable``, ...);
    ``message`` says what happened in words a person can act on, and never holds a
    token, a code or the person's e-mail address.
    """
