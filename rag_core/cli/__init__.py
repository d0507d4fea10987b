"""The command line: ``python -m rag_core COMMAND``."""

from rag_core.cli.commands import main

__all__ = ["main"]
