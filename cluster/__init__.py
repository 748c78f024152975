"""Coordination of nodes: the single-node coordinator now, etcd membership later."""
