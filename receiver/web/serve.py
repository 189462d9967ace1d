"""The web process (``web:`` in the Procfile): the settings read, then gunicorn in this process's place.

gunicorn reads ``WEB_CONCURRENCY`` and ``FORWARDED_ALLOW_IPS`` itself as it loads, before
``gunicorn.conf.py``: a ``WEB_CONCURRENCY`` that is not a whole number stopped it with a Python
traceback, a malformed ``FORWARDED_ALLOW_IPS`` with a message of its own. Read here first, every
malformed setting is one line and exit status 2, as at every other entry point; ``gunicorn.conf.py`` then
checks the rest (what only building the services finds) before any worker starts. gunicorn
replaces this process (``exec``), so the platform's signals reach it directly. Arguments are
passed on to gunicorn.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from settings import exit_on_config_error, load_settings

GUNICORN_CONFIG = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"
WSGI_APP = "wsgi:app"


def gunicorn_command(arguments: list[str]) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG), *arguments, WSGI_APP]


def main(arguments: list[str] | None = None) -> None:
    exit_on_config_error(lambda: load_settings(os.environ))
    command = gunicorn_command(sys.argv[1:] if arguments is None else arguments)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
