"""Segments: definitions, membership kept current by an evaluator, tracked-segment analytics."""
