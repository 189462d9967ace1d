"""Provider simulators: small Flask apps that behave as the provider docs describe.

- ``simulators.messagebird``: the Personal Data API (``/personaldata/requests``), its
  signed callbacks (JWT and HMAC) and the archives they point at, over HTTPS with a
  trustme CA;
- ``simulators.voodoosms``: the GDPR Forget API (``/gdpr/forget``, ``/gdpr/status``);
- ``simulators.demo``: ``make demo``, the service end to end against both.

Each runs as a process (``python -m simulators.messagebird --port 0``, printing one
JSON line with its URL when ready) or inside a test (``start()``). Knobs make them
misbehave, from the command line or at ``POST /_simulator/knobs``. They are
development tools: they bind to 127.0.0.1 and keep everything in memory.
"""
