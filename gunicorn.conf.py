"""gunicorn settings for the web process (``web:`` in the Procfile, ``receiver.web.serve``).

Where it listens, how big it is and which proxies it believes come from the
service's settings (``PORT``, ``WEB_HOST``, ``WEB_CONCURRENCY``, ``WEB_THREADS``,
``WEB_READ_TIMEOUT``, ``FORWARDED_ALLOW_IPS``), checked with every other setting
before anything starts; ``PORT`` and ``WEB_CONCURRENCY`` are the names platforms
set, ``FORWARDED_ALLOW_IPS`` gunicorn's own. gunicorn reads ``WEB_CONCURRENCY`` and
``FORWARDED_ALLOW_IPS`` itself as it loads, before this file, which is why the
Procfile starts it through ``receiver.web.serve``: a malformed value is then a
configuration error line, not gunicorn's traceback or message.
gunicorn's own loggers go through the service's one logging pipeline, so its lines
are JSON like every other.

The app is loaded once, in the master, before the workers fork (``preload_app``): a
worker starts in milliseconds instead of importing the service again (about a second of
CPU each), and the workers share the loaded code's memory. Building the app opens no
connection; each worker drops the database pool it inherited before its first request.

Slow clients. A sync worker reads a request with no timeout of its own: two clients
that sent half a body and stalled held both default workers until gunicorn's
``timeout`` killed them 30 s later (and answered them 500), and everyone else waited
(tests/faults/test_hostile_input.py). So each worker runs ``WEB_THREADS`` threads
(a stalled client holds one thread, not the process), and every connection's reads
time out after ``WEB_READ_TIMEOUT`` seconds (``SO_RCVTIMEO`` on the listening socket,
which accepted connections inherit; gunicorn has no read timeout): a stalled body is
answered 400, stalled headers are closed.
"""

import os
import shutil
import socket
import struct
import tempfile
import threading
from pathlib import Path

from receiver.services import check_configuration
from settings import exit_on_config_error

# A bad setting stops the server here, before any worker starts: one line per problem, exit status 2.
_settings = exit_on_config_error(lambda: check_configuration(os.environ))

_host = f"[{_settings.web_host}]" if ":" in _settings.web_host else _settings.web_host
bind = f"{_host}:{_settings.port}"
workers = _settings.web_concurrency
worker_class = "gthread"
preload_app = True
threads = _settings.web_threads
forwarded_allow_ips = ",".join(_settings.forwarded_allow_ips)
_read_timeout = _settings.web_read_timeout
timeout = 30
graceful_timeout = 20
keepalive = 5
limit_request_line = 8190
limit_request_field_size = 8190
accesslog = None  # the app logs one structured http.request event per request
control_socket_disable = True  # gunicorn's per-user control socket would be shared by every server of the user

# prometheus-client's multiprocess mode: each worker writes its counters here, /metrics adds them up.
_metrics_dir = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="receiver-metrics-")))


def on_starting(server):
    """Start from empty counters: files left by an earlier run would be added in."""
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    _metrics_dir.mkdir(parents=True, exist_ok=True)


def when_ready(server):
    """Time out reads on every connection the listeners accept (the kernel copies the option)."""
    seconds, fraction = divmod(_read_timeout, 1)
    timeout = struct.pack("ll", int(seconds), int(fraction * 1_000_000))
    for listener in server.LISTENERS:
        listener.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeout)


def post_worker_init(worker):
    """Each worker: its own database connections (the pool inherited from the master is left to it), and a
    word when the archive store would refuse the retention policy's deletions (an S3 object lock), said in the
    background: a slow store delays no request."""
    from receiver.usecases.retention import warn_if_deletion_blocked

    services = getattr(worker.wsgi, "extensions", {}).get("services")
    if services is None:
        return  # another app under these settings (the bench's durable-ack floor) has no archive store
    services.database.forget_inherited_connections()
    threading.Thread(target=warn_if_deletion_blocked, args=(services,), name="deletion-check", daemon=True).start()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"structured": {"()": "receiver.observability.logs.formatter", "log_format": _settings.log_format}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "structured"}},
    "root": {"handlers": ["stdout"], "level": _settings.log_level},
    "loggers": {
        "gunicorn.error": {"handlers": [], "propagate": True, "level": "INFO"},
        "gunicorn.access": {"handlers": [], "propagate": True, "level": "WARNING"},  # the app logs http.request
    },
}
