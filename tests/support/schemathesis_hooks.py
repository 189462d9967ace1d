"""schemathesis hooks (``SCHEMATHESIS_HOOKS=tests.support.schemathesis_hooks``): deliveries signed as MessageBird signs.

Without them every generated callback fails its signature check, so schemathesis would only ever
see the refusals. A generated callback that carries a ``MessageBird-Signature-JWT`` header is sent
with a valid JWT instead, for the exact URL (``PUBLIC_URL`` and the path) and body, signed with
``MESSAGEBIRD_SIGNING_KEY``; its ``X-MessageBird-Signature`` is dropped, since a request's
``signatureKey`` is not the tester's to know (``SIGNATURE_POLICY=any`` needs one valid signature).
One without the header goes as generated, so the refusals stay covered.
"""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis

from receiver.usecases.callbacks import MESSAGEBIRD_CALLBACK_PATH
from verification import HMAC_HEADER, JWT_HEADER
from verification.testing import sign_jwt

_JSON = (dict, list, str, int, float, bool)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.path != MESSAGEBIRD_CALLBACK_PATH or not case.headers or JWT_HEADER not in case.headers:
        return
    if not isinstance(case.body, _JSON):
        return
    body = json.dumps(case.body).encode("utf-8")
    case.body = body  # sent as these bytes exactly, so the payload hash holds
    case.headers.pop(HMAC_HEADER, None)
    url = os.environ["PUBLIC_URL"] + MESSAGEBIRD_CALLBACK_PATH
    case.headers[JWT_HEADER] = sign_jwt(os.environ["MESSAGEBIRD_SIGNING_KEY"], url, body)
