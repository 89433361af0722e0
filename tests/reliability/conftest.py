"""The integration `world` fixture (both emulators over HTTP + a state store), shared here."""

from tests.integration.conftest import world

__all__ = ["world"]
