"""What ops watch: the one logging pipeline (``logs``) and the Prometheus metrics (``metrics``)."""
