"""Operating heron: workspaces, apps and REST API keys (used by the CLI and the server)."""
