"""What people may read of a URL: ``scheme://host[:port]``, never its path, query or credentials.

An archive URL is a bearer secret: whoever holds it can download a data subject's
personal data, and processors put the token in the path (``/archives/<token>.zip``)
as often as in the query (``?X-Amz-Signature=...``). So every reason, log event,
answer and database column that speaks of an archive URL names its origin alone,
through ``describe_url``; ``scrub_urls`` applies the same rule to free text (the
log pipeline's second line of defence).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

UNREADABLE = "(unreadable URL)"

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,15}")
_HOST = re.compile(r"[a-z0-9_.-]{1,253}|[0-9a-f:.]{2,45}")
_HTTP_URL = re.compile(r"(?i)\bhttps?://[^\s\"'<>\\]+")


def describe_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, or ``(unreadable URL)``; never raises.

    Only a host made of letters, digits, dots, dashes and underscores (or an IP
    literal) is shown: anything else in that position may be a path or token that
    a malformed URL smuggled into its host.
    """
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except (ValueError, AttributeError):
        return UNREADABLE
    scheme = parts.scheme.lower()
    if not (_SCHEME.fullmatch(scheme) and host and _HOST.fullmatch(host)):
        return UNREADABLE
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + (f":{port}" if port is not None else "")


def scrub_urls(text: str) -> str:
    """``text`` with every http(s) URL in it reduced to ``describe_url`` of it."""
    if "://" not in text:
        return text
    return _HTTP_URL.sub(lambda match: describe_url(match.group(0)), text)
