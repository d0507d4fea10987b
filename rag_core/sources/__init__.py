"""Sources: watched folders whose files a workspace keeps in sync, incrementally.

``scan`` (the folder now), ``store`` (the sources' rows), ``sync`` (one sync: look, plan,
converge), ``schedule`` (the background thread), ``sources`` (``Sources``, what edges call).
"""

from rag_core.sources.scan import DEFAULT_INCLUDE, Rules
from rag_core.sources.sources import Sources
from rag_core.sources.store import Failure, Source, SourceStatus, SourceStore, SyncReport

__all__ = [
    "DEFAULT_INCLUDE",
    "Failure",
    "Rules",
    "Source",
    "SourceStatus",
    "SourceStore",
    "Sources",
    "SyncReport",
]
