"""Benchmarks that print comparable figures, and the real processes they start."""
