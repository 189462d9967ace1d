"""The web and worker layer: the Flask app's blueprints, the CLI and the background worker."""
