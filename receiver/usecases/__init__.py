"""What the service does, behind every adapter (the web, the CLI, the console):

- ``callbacks``: verify, decide and record one MessageBird callback, in one transaction;
- ``registration``: store a request created elsewhere (the one path that stores a request);
- ``sending``: send a request to a processor and store what it answered;
- ``archives``: what ops do with a stored archive (retry its download, fetch it);
- ``records``: the requests as ops read them (the list and the whole record);
- ``answers``: every answer as a pydantic model, returned by the use cases;
- ``documents``: every input document as a pydantic model, validated once;
- ``errors``: ``UseCaseError``, the layer's one error type.

Use cases call ``storage`` and the provider clients; they never import Flask.
"""
