"""Alembic environment: runs on the connection ``storage.db.Database.upgrade`` hands it.

Run migrations with ``flask --app wsgi db upgrade`` (the Procfile's release step),
which reads ``DATABASE_URL`` through the settings module like the rest of the service.
"""

from alembic import context

from storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with `flask --app wsgi db upgrade`, which supplies the connection")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
