"""The chunkedgraph service (PyChunkedGraph API v1), call-compatible with caveclient 8.2.1's
ChunkedGraphClient. Id handling is in ids.py, lineage-graph logic in lineage.py."""

from .client import ChunkedGraphClient

__all__ = ["ChunkedGraphClient"]
