"""The HTTP API: the app, its envelope and its dependencies."""
