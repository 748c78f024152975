"""The HTTP API of a node: JSON under /api/v1, health, readiness and metrics (DESIGN §7)."""

from api.app import create_app

__all__ = ["create_app"]
