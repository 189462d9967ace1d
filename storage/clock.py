"""The one wall clock of the service: timezone-aware UTC ``datetime`` values.

The pure engines (``verification``, ``deadlines``) never read a clock; they take
``now``/``today`` as arguments, and the layers above pass this one in.
"""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """Now, in UTC, timezone-aware."""
    return dt.datetime.now(dt.UTC)
