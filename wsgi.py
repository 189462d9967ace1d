"""The WSGI entry point gunicorn serves (``python -m receiver.web.serve``, the Procfile's web command) and the
``flask`` CLI loads.

A bad configuration ends the process with one line per problem and exit status 2,
for the web, the ``flask`` commands (``db upgrade``, the Procfile's release step)
and the worker alike.
"""

from app import create_app
from settings import exit_on_config_error

app = exit_on_config_error(create_app)
