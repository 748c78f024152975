"""Uptrack: a self-hosted uptime monitor that keeps checking when parts of it fail."""

__version__ = "0.1.0"
