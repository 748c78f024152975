"""Storage: one `Store` interface, one implementation per database."""

from uptrack.store.base import Page, Store

__all__ = ["Page", "Store"]
