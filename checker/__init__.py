"""Probes (one module per kind), the per-shard scheduler and its supervisor."""
