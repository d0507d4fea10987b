"""The vision index: page images read by a ColQwen2 / ColPali model, searched by MaxSim."""

from .index import VisionConfig, VisionIndex, VisionStatus
from .indexer import VisionProgress
from .model import ColVisionEmbedder, PageEmbedder, PageEmbedding, QueryEmbedding

__all__ = [
    "ColVisionEmbedder",
    "PageEmbedder",
    "PageEmbedding",
    "QueryEmbedding",
    "VisionConfig",
    "VisionIndex",
    "VisionProgress",
    "VisionStatus",
]
