"""The vision index: page images read by a ColQwen2 / ColPali model, searched by MaxSim."""

from rag_core.vision.index import VisionConfig, VisionIndex, VisionStatus
from rag_core.vision.indexer import VisionProgress
from rag_core.vision.model import ColVisionEmbedder, PageEmbedder, PageEmbedding, QueryEmbedding

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
