from flask import Flask, request

from verification import (
    HMAC_HEADER,
    JWT_HEADER,
    MemoryReplayCache,
    SignatureError,
    verify_hmac_signature,
    verify_jwt,
)

PUBLIC_URL = "https://hooks.example.com"  # where MessageBird calls you; never taken from Host


def create_app(signing_key: str, signature_key: str) -> Flask:
    """signing_key: your account's, from the MessageBird dashboard. signature_key: the
    signatureKey MessageBird answered when you created the Personal Data request (one per
    request: a real app looks it up by the body's requestId)."""
    app = Flask(__name__)
    replay_cache = MemoryReplayCache()  # one process; several processes share one in SQL or Redis

    @app.post("/messagebird/callback")
    def messagebird_callback():
        body = request.get_data()
        try:
            verify_hmac_signature(request.headers.get(HMAC_HEADER), body=body, key=signature_key)
            verify_jwt(
                request.headers.get(JWT_HEADER),
                url=signed_url(),
                body=body,
                keys=[signing_key],
                replay_cache=replay_cache,
            )
        except SignatureError as refused:
            app.logger.warning("callback refused: %s", refused.reason)
            return {"errors": [{"code": 2, "description": "invalid signature"}]}, 401
        return {"status": "accepted"}

    return app


def signed_url() -> str:
    """The URL MessageBird called: PUBLIC_URL, the path, the query string exactly as sent."""
    query = request.query_string.decode("latin-1")
    return PUBLIC_URL + request.path + (f"?{query}" if query else "")
