"""heron: a self-hosted, Braze-API-compatible customer-engagement data platform."""

__version__ = "0.1.0"
