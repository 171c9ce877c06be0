"""The materialization service client."""

from .client import MaterializationClient  # noqa: F401
