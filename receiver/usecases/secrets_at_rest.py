"""Secrets at rest: re-sealing every stored secret with the newest ``SECRET_KEY`` (``flask secrets rotate``).

After a new key is put in front of ``SECRET_KEY``, every sealed value (signature keys,
archive URLs, job payloads, ...) is opened with whichever key sealed it and sealed
again with the newest one; the older keys may then be removed.
"""

from __future__ import annotations

from receiver.services import Services
from storage.crypto import reseal_all


def reseal_secrets(services: Services) -> int:
    """Re-seal every stored secret with the newest key, in one transaction; how many were re-sealed."""
    with services.database.transaction() as session:
        return reseal_all(session, services.secrets)
