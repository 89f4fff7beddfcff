"""jpsi-sidis HTTP service: ``create_app(settings)``; run with ``jpsi-serve``."""

from service.app import create_app
from service.settings import Settings

__all__ = ["Settings", "create_app"]
