"""What the worker runs: the job loop (``worker``), its contract (``contract``) and one module per job kind.

    worker ──claims──▶ job (archive | reconcile | voodoosms_poll | deadline_check | notify | ...)
                           ──▶ its use case (receiver.usecases) ──▶ storage

A job module is a thin body over its use case and imports only ``contract`` and the
layers below, never ``storage`` but its errors; the loop imports the job modules to
build its handler table and uses the job queue (``storage.jobs``) itself. Nothing
here imports ``receiver.web``.
"""
