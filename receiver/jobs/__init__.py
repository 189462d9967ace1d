"""What the worker runs: the job loop (``worker``), its contract (``contract``) and one module per job kind.

    worker ──claims──▶ job (archive | reconcile | voodoosms_poll | deadline_check | notify)
                           ──▶ fetching / providers / notifications ──▶ storage

Job modules import only ``contract`` (and the layers below); the loop imports the
job modules to build its handler table. Nothing here imports ``receiver.web``.
"""
