"""What the service does, behind every adapter (the web, the CLI, the console, the worker's jobs):

- ``callbacks``: verify, decide and record one MessageBird callback, in one transaction;
- ``registration``: store a request created elsewhere (the one path that stores a request);
- ``sending``: send a request to a processor and store what it answered;
- ``archives``: a request's archive: the archive job's download, ops' retry and fetch;
- ``records``: the requests as ops read them (the list and the whole record);
- ``cases``, ``case_views``, ``alerts``: cases, their deadlines, and the notifications they call for;
- ``reconciliation``, ``unrecorded``, ``forget_polling``: what the providers' own records say;
- ``job_runs``: how a worker job's use case ends its job, queues the next run, fails;
- ``answers``: every answer as a pydantic model, returned by the use cases;
- ``documents``: every input document as a pydantic model, validated once;
- ``errors``: ``UseCaseError``, the layer's one error type.

Use cases call ``storage`` and the provider clients; they never import Flask. The
adapters import nothing of ``storage`` but its errors (``pyproject.toml``'s contracts).
"""
