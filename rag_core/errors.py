"""The errors Folio's core raises. Their message is written for the person using Folio.

Only the edges (CLI, UI, HTTP API) translate these into exit codes, ``gr.Error`` or HTTP statuses.
"""

from __future__ import annotations


class FolioError(Exception):
    """Base class: the message says what went wrong and what to do about it."""


class DocumentError(FolioError):
    """A file could not be added; names the file and the reason."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}")


class NotFoundError(FolioError):
    """A document, page or record that was asked for does not exist."""


class ConfigurationError(FolioError):
    """Settings, models or optional packages do not fit together; the message says the fix."""


class InputError(ConfigurationError):
    """A request's value is not acceptable (empty, too long ...); ``field`` names it."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class AnswerError(FolioError):
    """The language model could not produce an answer (network, key, quota)."""


class BusyError(FolioError):
    """The same work runs now (a sync of the same sources); try again when it is done."""
