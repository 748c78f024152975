"""Local clusters on loopback: real etcd, PostgreSQL and node processes for development,
tests and benchmarks (`uptrack dev cluster`)."""
