"""Shared pieces of heron's benchmarks: synthetic data, prefilled databases, load, servers."""
