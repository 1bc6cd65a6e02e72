"""Data tools over HTTP (`heron import`, `export`, `series`), built on heron-client."""
