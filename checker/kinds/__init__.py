"""Check kinds: one module per kind, each exporting `KIND` (see `checker.registry`)."""
